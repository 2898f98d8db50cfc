"""Exact-value tests of quant.formats / quant.fp8.  Expected values are worked by hand in comments."""

from __future__ import annotations

import pytest
import torch

from quant.formats import (
    FORMAT_NAMES,
    CalibratedQuantizer,
    FakeQuantize,
    Format,
    FormatError,
    MXInt8,
    UniformInt,
    VectorE4M3Int,
    VSQInt4,
    get_format,
)
from quant.fp8 import E4M3_MAX, e4m3_from_bits, e4m3_to_bits, e8m0_shared_exponent, round_to_e4m3


def t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def assert_exact(actual: torch.Tensor, expected) -> None:
    expected = expected if isinstance(expected, torch.Tensor) else torch.tensor(expected, dtype=actual.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert torch.equal(actual, expected.to(actual.dtype)), f"\nactual   {actual.tolist()}\nexpected {expected.tolist()}"


# ------------------------------------------------------------------------------------------------
# E4M3
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, expected",
    [
        # 0.3 in [2**-2, 2**-1): quantum 2**-5 = 0.03125; 0.3/0.03125 = 9.6 -> 10 -> 0.3125
        (0.3, 0.3125),
        (1.0, 1.0),
        # ties to even: in [16, 32) the quantum is 2; 17/2 = 8.5 -> 8 (even) -> 16; 19/2 = 9.5 -> 10 -> 20
        (17.0, 16.0),
        (19.0, 20.0),
        (-17.0, -16.0),
        # tie between 1.0 (mantissa 000) and 1.125 (001): 1.0625 -> 1.0; 1.1875 is between 1.125 and 1.25 -> 1.25
        (1.0625, 1.0),
        (1.1875, 1.25),
        # mantissa overflow into the next binade: 1.96875 is the tie 1.9375|2.0 -> 2.0 (even)
        (1.96875, 2.0),
        # smallest normal 2**-6 and smallest subnormal 2**-9 are exact
        (2.0**-6, 2.0**-6),
        (2.0**-9, 2.0**-9),
        # subnormal: quantum 2**-9; 0.01 * 512 = 5.12 -> 5 -> 5/512 = 0.009765625
        (0.01, 0.009765625),
        # subnormal ties: 2**-10 = 0.5 quantum -> 0 (even); 1.5 quanta -> 2 quanta = 2**-8
        (2.0**-10, 0.0),
        (1.5 * 2.0**-9, 2.0**-8),
        (0.6 * 2.0**-9, 2.0**-9),
        # max and saturation: in [256, 448] quantum 32; 460/32 = 14.375 -> 14 -> 448;
        # 470/32 = 14.69 -> 15 -> 480 > 448 -> saturate 448; huge values saturate
        (448.0, 448.0),
        (460.0, 448.0),
        (470.0, 448.0),
        (1e30, 448.0),
        (-1e30, -448.0),
        (0.0, 0.0),
    ],
)
def test_round_to_e4m3_hand_values(x, expected):
    for dtype in (torch.float32, torch.float64):
        assert_exact(round_to_e4m3(t([x], dtype)), [expected])


def test_round_to_e4m3_matches_torch_float8_cast():
    # Torch's float8_e4m3fn cast also rounds to nearest-even; compare on a dense grid that includes every
    # tie point (midpoints between consecutive E4M3 values) within +-448.
    codes = torch.arange(0, 127, dtype=torch.int32).to(torch.uint8)  # 0x00..0x7E: all finite positives
    vals = e4m3_from_bits(codes, torch.float64)
    mids = (vals[1:] + vals[:-1]) / 2
    # Perturbations of 2**-20 relative are exact in float32 too (E4M3 values have <= 4 significant bits).
    rand = torch.rand(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 448
    grid = torch.cat([vals, mids, mids * (1 + 2.0**-20), mids * (1 - 2.0**-20), rand.float().double()])
    grid = torch.cat([grid, -grid])
    assert torch.equal(round_to_e4m3(grid), grid.to(torch.float8_e4m3fn).to(torch.float64))
    assert torch.equal(round_to_e4m3(grid.float()), grid.float().to(torch.float8_e4m3fn).float())


def test_round_to_e4m3_float64_rounds_once():
    # torch's float64 -> float8 cast goes through float32 and double-rounds: 2**-10 * (1 + 1e-9) becomes
    # the exact tie 2**-10 in float32 and then 0.  It is above the tie, so the correct E4M3 value is 2**-9.
    x = t([2.0**-10 * (1 + 1e-9)], torch.float64)
    assert_exact(round_to_e4m3(x), [2.0**-9])
    assert x.to(torch.float8_e4m3fn).item() == 0.0  # the double-rounded cast, for contrast


def test_e4m3_bits():
    # 448 = 1.75 * 2**8: exponent field 8+7 = 15 (1111), mantissa 110 -> 0x7E; 1.0 -> 0111 000 -> 0x38;
    # 2**-9 (smallest subnormal) -> 0x01; 0.3125 = 1.25*2**-2 -> exp 5 (0101) mant 010 -> 0x2A; sign -> 0x80
    vals = t([448.0, 1.0, 2.0**-9, 0.3125, -448.0, 0.0])
    assert e4m3_to_bits(vals).tolist() == [0x7E, 0x38, 0x01, 0x2A, 0xFE, 0x00]
    assert_exact(e4m3_from_bits(e4m3_to_bits(vals)), vals)
    assert E4M3_MAX == 448.0
    with pytest.raises(ValueError):
        e4m3_to_bits(t([0.3]))  # not an E4M3 number


def test_e8m0_shared_exponent():
    # floor(log2(3)) = 1; floor(log2(1)) = 0; floor(log2(0.75)) = -1; 0 -> -127; huge/tiny clamp to +-127
    amax = t([3.0, 1.0, 0.75, 0.0, 2.0**-140, 2.0**200], torch.float64)
    assert e8m0_shared_exponent(amax, 0).tolist() == [1, 0, -1, -127, -127, 127]
    assert e8m0_shared_exponent(t([3.0]), 2).tolist() == [-1]


# ------------------------------------------------------------------------------------------------
# Plain integer formats
# ------------------------------------------------------------------------------------------------
def test_int4_per_tensor():
    f = get_format("int4")
    # amax 3.5 -> scale 3.5/7 = 0.5; x/s = 7, -1.5, 0.5, 2.5, -0.5 -> half-even: 7, -2, 0, 2, -0
    x = t([3.5, -0.75, 0.25, 1.25, -0.25])
    enc = f.encode(x)
    assert enc.codes.tolist() == [7, -2, 0, 2, 0]
    assert float(enc.scale) == 0.5
    q = f.quantize(x)
    assert_exact(q, [3.5, -1.0, 0.0, 1.0, 0.0])
    assert not torch.signbit(q[q == 0]).any()  # the -0 code of -0.25 became +0.0
    assert f.bits_per_element == 4.0
    # symmetric grid: -8 is never used, even for the most negative value
    assert f.encode(t([-3.5, 1.0])).codes.tolist() == [-7, 2]


def test_int4_per_channel():
    f = get_format("int4_pc")
    w = t([[7.0, -3.5, 1.0, 0.0], [0.875, 0.0625, -0.4375, 0.1875]])
    # row 0: amax 7 -> s 1: codes 7, -3.5 -> -4 (tie to even), 1, 0
    # row 1: amax 0.875 -> s 0.125: 7, 0.5 -> 0, -3.5 -> -4, 1.5 -> 2
    enc = f.encode(w)
    assert enc.codes.tolist() == [[7, -4, 1, 0], [7, 0, -4, 2]]
    assert enc.scale.tolist() == [1.0, 0.125]
    assert_exact(f.quantize(w), [[7.0, -4.0, 1.0, 0.0], [0.875, 0.0, -0.5, 0.25]])
    # channel axis 1: columns [7, 0.875] -> s 1 -> codes [7, 1]; column 4 [0, 0.1875] -> s 0.1875/7
    enc1 = f.encode(w, axis=1)
    assert enc1.codes[:, 0].tolist() == [7, 1]
    assert enc1.codes[:, 3].tolist() == [0, 7]
    assert f.bits_per_element == 4.0


def test_int8_per_tensor():
    f = get_format("int8")
    # amax 254 -> s 2; 1.0/2 = 0.5 -> 0; 3/2 = 1.5 -> 2; -127/2 = -63.5 -> -64
    x = t([254.0, 1.0, 3.0, -127.0, -254.0])
    enc = f.encode(x)
    assert enc.codes.tolist() == [127, 0, 2, -64, -127]
    assert_exact(f.quantize(x), [254.0, 0.0, 4.0, -128.0, -254.0])
    assert f.bits_per_element == 8.0


def test_uint4_per_tensor_dynamic_and_static():
    f = get_format("uint4")
    x = t([0.0, 1.0, 2.5, 7.5, 15.0])
    # dynamic: amax 15 -> s 1; 2.5 -> 2 (even), 7.5 -> 8 (even)
    assert f.encode(x).codes.tolist() == [0, 1, 2, 8, 15]
    assert_exact(f.quantize(x), [0.0, 1.0, 2.0, 8.0, 15.0])
    # static scale 0.5: x/s = 0, 2, 5, 15, 30 -> saturates at 15 -> 7.5
    assert_exact(f.quantize(x, scale=0.5), [0.0, 1.0, 2.5, 7.5, 7.5])
    with pytest.raises(ValueError, match="uint4: input has negative"):
        f.quantize(t([1.0, -0.5]))
    assert_exact(UniformInt(4, signed=False, negative="clamp").quantize(t([1.5, -0.5])), [1.5, 0.0])
    with pytest.raises(ValueError, match="positive"):
        f.quantize(x, scale=0.0)
    assert f.bits_per_element == 4.0


def test_calibrated_quantizer():
    q = CalibratedQuantizer("uint4")
    with pytest.raises(RuntimeError, match="not calibrated"):
        q(t([1.0]))
    q.calibrate()
    assert_exact(q(t([3.0, 1.0])), [3.0, 1.0])  # pass-through while calibrating
    q(t([[7.5, 0.0]]))
    q.calibrate(False)
    # amax 7.5 -> scale 0.5: 8/0.5 = 16 -> 15 -> 7.5; 0.3/0.5 = 0.6 -> 1 -> 0.5; 0.2/0.5 = 0.4 -> 0
    assert float(q.scale) == 0.5
    assert_exact(q(t([8.0, 0.3, 0.2])), [7.5, 0.5, 0.0])


def test_fp16():
    f = get_format("fp16")
    # 0.1 -> nearest binary16 0.0999755859375; 65504 is max; 1e-8 < 2**-25 (half the smallest subnormal) -> 0
    x = t([0.1, 65504.0, 1e-8, 2.0**-24, -3.0])
    assert_exact(f.quantize(x), [0.0999755859375, 65504.0, 0.0, 2.0**-24, -3.0])
    with pytest.raises(ValueError, match="fp16: input exceeds"):
        f.quantize(t([70000.0]))
    assert f.bits_per_element == 16.0


# ------------------------------------------------------------------------------------------------
# INT4 / UINT4 with E4M3 vector scales
# ------------------------------------------------------------------------------------------------
def test_int4_e4m3_weights_hand_values():
    f = get_format("int4_e4m3_v16")
    x = torch.zeros(1, 20)
    # vector 0 = elements 0..15: amax 2.1 -> 2.1/7 = 0.3 -> E4M3 0.3125 (bits 0x2A);
    #   2.1/0.3125 = 6.72 -> 7 -> 2.1875; -1/0.3125 = -3.2 -> -3 -> -0.9375;
    #   0.15625/0.3125 = 0.5 -> 0 (tie to even) -> 0.0; 0.46875/0.3125 = 1.5 -> 2 -> 0.625
    x[0, :4] = t([2.1, -1.0, 0.15625, 0.46875])
    # vector 1 = elements 16..19 (partial, zero-padded): amax 3.5 -> s 0.5 (bits 0x30): codes -7, 2, 1, 0
    x[0, 16:] = t([-3.5, 1.0, 0.5, 0.0])
    enc = f.encode(x)
    assert enc.scale.shape == (1, 2)
    assert enc.scale.tolist() == [[0.3125, 0.5]]
    assert enc.scale_codes.tolist() == [[0x2A, 0x30]]
    assert enc.codes[0, :4].tolist() == [7, -3, 0, 2]
    assert enc.codes[0, 16:].tolist() == [-7, 2, 1, 0]
    expected = torch.zeros(1, 20)
    expected[0, :4] = t([2.1875, -0.9375, 0.0, 0.625])
    expected[0, 16:] = t([-3.5, 1.0, 0.5, 0.0])
    assert_exact(f.quantize(x), expected)
    assert f.bits_per_element == 4.5
    assert get_format("int4_e4m3", vector=32).bits_per_element == 4.25


def test_int4_e4m3_conv_vectors_run_along_cin():
    f = get_format("int4_e4m3_v2")
    w = torch.zeros(1, 2, 1, 2)  # [Cout, Cin, kh, kw]
    w[0, :, 0, 0] = t([7.0, 1.0])  # vector (kw=0) along Cin: amax 7 -> s 1 -> codes 7, 1
    # vector (kw=1): amax 0.5 -> 0.5/7 = 0.0714 -> in [2**-4, 2**-3) quantum 2**-7: 9.14 -> 9 -> 0.0703125
    #   codes 0.5/0.0703125 = 7.11 -> 7 -> 0.4921875; 0.25/0.0703125 = 3.56 -> 4 -> 0.28125
    # (had the vectors run along kw, 0.5 would share the scale of 7 and become 0 or 1.)
    w[0, :, 0, 1] = t([0.5, 0.25])
    enc = f.encode(w)
    assert enc.axis == (1,)
    assert enc.scale.shape == (1, 1, 2, 1)  # (Cout, kh, kw, n_vectors)
    assert enc.scale.flatten().tolist() == [1.0, 0.0703125]
    expected = torch.zeros(1, 2, 1, 2)
    expected[0, :, 0, 0] = t([7.0, 1.0])
    expected[0, :, 0, 1] = t([0.4921875, 0.28125])
    assert_exact(f.quantize(w), expected)
    # vectors over Cin*kh*kw flattened row-major (axis=(1, 2, 3)), V=2: [7, 0.5] and [1, 0.25]
    #   [7, 0.5]: s 1 -> 7, 0 (0.5 tie to even);
    #   [1, 0.25]: 1/7 -> quantum 2**-6: 9.14 -> 9 -> 0.140625; 1 -> 7.11 -> 7 -> 0.984375; 0.25 -> 1.78 -> 2 -> 0.28125
    flat = f.quantize(w, axis=(1, 2, 3))
    assert_exact(flat.flatten(), [7.0, 0.0, 0.984375, 0.28125])
    assert get_format("int4_e4m3_v4").encode(w, axis=(1, 2, 3)).scale.shape == (1, 1)


def test_int4_e4m3_saturation():
    f = get_format("int4_e4m3_v16")
    # subnormal scale rounding down: amax = 9.8 * 2**-9 -> amax/7 = 1.4 * 2**-9 -> E4M3 2**-9;
    # amax / 2**-9 = 9.8 -> clamp to 7 -> 7 * 2**-9; 2**-9 -> code 1
    x = t([[9.8 * 2.0**-9, 2.0**-9, -9.8 * 2.0**-9]], torch.float64)
    assert f.encode(x).codes.tolist() == [[7, 1, -7]]
    assert_exact(f.quantize(x), t([[7 * 2.0**-9, 2.0**-9, -7 * 2.0**-9]], torch.float64))
    # scale saturation at 448: amax 7000 -> 1000 -> 448; 7000/448 = 15.6 -> 7 -> 3136
    assert_exact(f.quantize(t([[7000.0, 448.0]])), [[3136.0, 448.0]])
    # tiny vector: amax/7 < 2**-10 -> scale 0 -> all zeros, no NaN
    assert_exact(f.quantize(t([[1e-4, -1e-4]])), [[0.0, 0.0]])


def test_int4_e4m3_tensor_scale():
    f = get_format("int4_e4m3_v2_ts")
    assert f.bits_per_element == 8.0  # 4 + 8/2
    x = t([[0.07, 0.0, 0.014, 0.007]], torch.float64)
    # g = 0.07 / (7 * 448) = 2.232e-5; vector 0: 0.07/(7g) = 448 -> s = 448 g = 0.01 -> code 7 -> 0.07
    # vector 1: amax 0.014 -> 0.014/(7g) = 89.6 -> E4M3 in [64,128) quantum 8 -> 88 -> s = 88 g;
    #   0.014 / (88 g) = 7.127 -> 7; 0.007/(88 g) = 3.56 -> 4
    enc = f.encode(x)
    g = 0.07 / (7 * 448)
    assert float(enc.tensor_scale) == pytest.approx(g, rel=1e-15)
    assert (e4m3_from_bits(enc.scale_codes, torch.float64)).tolist() == [[448.0, 88.0]]
    assert enc.codes.tolist() == [[7, 0, 7, 4]]
    torch.testing.assert_close(f.quantize(x), t([[0.07, 0.0, 7 * 88 * g, 4 * 88 * g]], torch.float64))


def test_uint4_e4m3_activations_hand_values():
    f = get_format("uint4_e4m3_v4")
    x = torch.zeros(1, 2, 2, 2)  # NCHW; default axis (2, 3): each channel's 2x2 plane is one vector
    # channel 0: amax 1.5 -> 1.5/15 = 0.1 -> E4M3 quantum 2**-7: 12.8 -> 13 -> 0.1015625 (bits 0x1D)
    #   1.5/0.1015625 = 14.77 -> 15 -> 1.5234375; 0.05 -> 0.49 -> 0 -> exactly 0.0; 0.75 -> 7.38 -> 7 -> 0.7109375
    x[0, 0] = t([[1.5, 0.0], [0.05, 0.75]])
    # channel 1: all zero -> scale 0, codes 0, values 0 (no NaN)
    enc = f.encode(x)
    assert enc.axis == (2, 3)
    assert enc.scale.shape == (1, 2, 1)
    assert enc.scale.flatten().tolist() == [0.1015625, 0.0]
    assert enc.scale_codes.flatten().tolist() == [0x1D, 0x00]
    assert enc.codes[0, 0].tolist() == [[15, 0], [0, 7]]
    expected = torch.zeros(1, 2, 2, 2)
    expected[0, 0] = t([[1.5234375, 0.0], [0.0, 0.7109375]])
    q = f.quantize(x)
    assert_exact(q, expected)
    assert int((q == 0).sum()) == 6  # 2 zeros in channel 0 + the 4 of channel 1
    assert f.bits_per_element == 6.0  # 4 + 8/4
    assert get_format("uint4_e4m3_v16").bits_per_element == 4.5


def test_uint4_e4m3_vectors_stay_inside_channels():
    f = get_format("uint4_e4m3_v16")
    # H*W = 4 < V: each channel is its own (padded) vector, so the tiny channel keeps its own scale.
    x = torch.zeros(1, 2, 2, 2)
    x[0, 0] = 15.0
    x[0, 1] = 0.015625  # 2**-6: own scale 2**-6/15 -> E4M3 quantum 2**-9: 0.533 -> 1 -> 2**-9; 8 -> 2**-6
    assert f.encode(x).scale.shape == (1, 2, 1)
    assert_exact(f.quantize(x), x)
    with pytest.raises(ValueError, match="uint4_e4m3_v16: input has negative"):
        f.quantize(-x)
    assert_exact(VectorE4M3Int(signed=False, negative="clamp").quantize(-x), torch.zeros_like(x))
    with pytest.raises(ValueError, match="explicit axis"):
        f.quantize(torch.ones(4, 16))
    # 1.0/15 -> E4M3 0.0703125 (quantum 2**-7: 8.53 -> 9); 1/0.0703125 = 14.2 -> 14 -> 0.984375
    assert_exact(f.quantize(torch.ones(4, 16), axis=1), torch.full((4, 16), 0.984375))


# ------------------------------------------------------------------------------------------------
# MXINT8
# ------------------------------------------------------------------------------------------------
def test_mxint8_hand_values():
    f = get_format("mxint8")
    assert f.bits_per_element == 8.25
    x = torch.zeros(1, 35)
    # block 0 (elements 0..31): amax 3 -> e = floor(log2 3) - 0 = 1 -> code unit 2**(1-6) = 1/32
    #   3.0 -> 96; -1.0 -> -32; 1/64 -> 0.5 -> 0 (even); 3/64 -> 1.5 -> 2 -> 0.0625
    x[0, :4] = t([3.0, -1.0, 1 / 64, 3 / 64])
    # block 1 (elements 32..34): amax 1.999 -> e = 0 -> unit 2**-6; 1.999*64 = 127.94 -> 128 -> clamp 127
    #   -> 1.984375; 0.5 -> 32; -0.25 -> -16
    x[0, 32:] = t([1.999, 0.5, -0.25])
    enc = f.encode(x)
    assert enc.scale_codes.tolist() == [[1, 0]]  # E8M0 bytes 128, 127
    assert enc.scale.tolist() == [[1 / 32, 1 / 64]]
    assert enc.codes[0, :4].tolist() == [96, -32, 0, 2]
    assert enc.codes[0, 32:].tolist() == [127, 32, -16]
    expected = torch.zeros(1, 35)
    expected[0, :4] = t([3.0, -1.0, 0.0, 0.0625])
    expected[0, 32:] = t([1.984375, 0.5, -0.25])
    assert_exact(f.quantize(x), expected)


def test_mxint8_exponent_clamp_and_zero_block():
    f = MXInt8()
    # amax 2**-130: floor(log2) = -130 clamps to E8M0's -127 -> unit 2**-133 -> code 8 (not 64)
    x = torch.zeros(2, 32, dtype=torch.float64)
    x[0, 0] = 2.0**-130
    enc = f.encode(x)
    assert enc.scale_codes.flatten().tolist() == [-127, -127]  # the all-zero block 1 also gets -127
    assert enc.codes[0, 0].item() == 8
    assert_exact(f.quantize(x), x)


# ------------------------------------------------------------------------------------------------
# INT4-VSQ
# ------------------------------------------------------------------------------------------------
def test_vsq_hand_values():
    f = get_format("int4_vsq_v2_s2")  # 2-bit vector scales: q_v in 0..3
    assert f.bits_per_element == 5.0  # 4 + 2/2
    w = t([[5.25, -1.0, 0.5, 2.1875], [3.5, 0.0, 0.1, 0.0]], torch.float64)
    # row 0: s_v = [5.25/7, 2.1875/7] = [0.75, 0.3125]; gamma = 0.75/3 = 0.25; q_v = [3, 1.25 -> 1]
    #   eff scales [0.75, 0.25]; codes: 7, -1.33 -> -1; 0.5/0.25 = 2; 2.1875/0.25 = 8.75 -> clamp 7
    # row 1: s_v = [0.5, 0.1/7]; gamma = 0.5/3; q_v = [3, 0.086 -> 0]: vector 1 encodes to zeros
    enc = f.encode(w)
    assert enc.scale_codes.tolist() == [[3, 1], [3, 0]]
    assert enc.codes.tolist() == [[7, -1, 2, 7], [7, 0, 0, 0]]
    torch.testing.assert_close(enc.channel_scale, t([0.25, 0.5 / 3], torch.float64))
    torch.testing.assert_close(f.quantize(w), t([[5.25, -0.75, 0.5, 1.75], [3.5, 0.0, 0.0, 0.0]], torch.float64))
    # per-tensor second level: gamma = 0.75/3 = 0.25 for both rows; row 1: q_v = [0.5/0.25 = 2, 0.057 -> 0]
    ft = get_format("int4_vsq_v2_s2_pt")
    assert ft.encode(w).scale_codes.tolist() == [[3, 1], [2, 0]]
    assert get_format("int4_vsq").bits_per_element == 4.375  # defaults V=16, 6-bit scales
    assert get_format("int4_vsq_v16_s4").bits_per_element == 4.25


# ------------------------------------------------------------------------------------------------
# Properties shared by all formats
# ------------------------------------------------------------------------------------------------
ALL = ["fp16", "int8", "int8_pc", "int4", "int4_pc", "uint4", "int4_e4m3_v16", "int4_e4m3_v16_ts",
       "uint4_e4m3_v16", "uint4_e4m3_v16_ts", "int4_vsq", "int4_vsq_v16_s6_pt", "mxint8"]


def sample(name: str, shape=(4, 8, 3, 3)) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    return torch.relu(x) if name.startswith("uint4") else x


@pytest.mark.parametrize("name", ALL)
def test_zero_tensor_and_zero_elements(name):
    f = get_format(name)
    z = torch.zeros(4, 8, 3, 3)
    q = f.quantize(z)
    assert torch.equal(q, z) and not torch.signbit(q).any()
    x = sample(name)
    x[x.abs() < 0.3] = 0.0
    q = f.quantize(x)
    assert bool((q[x == 0] == 0).all())
    assert not torch.isnan(q).any()


@pytest.mark.parametrize("name", ALL)
def test_decode_encode_roundtrip_dtype_and_ranges(name):
    f = get_format(name)
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = sample(name).to(dtype)
        q = f.quantize(x)
        assert q.dtype == dtype and q.shape == x.shape
        enc = f.encode(x)
        assert torch.equal(f.decode(enc), q)
    if not name.startswith("uint4"):  # symmetric grids: quantize(-x) == -quantize(x)
        x = sample(name)
        assert torch.equal(f.quantize(-x), -f.quantize(x))
    if name != "fp16":
        codes = f.encode(sample(name)).codes
        lo, hi = {"int8": (-127, 127), "int8_pc": (-127, 127), "mxint8": (-127, 127)}.get(
            name, (0, 15) if name.startswith("uint4") else (-7, 7))
        assert int(codes.min()) >= lo and int(codes.max()) <= hi


@pytest.mark.parametrize("name", ALL)
def test_invalid_input_errors(name):
    f = get_format(name)
    x = sample(name)
    for bad, word in ((float("nan"), "NaN"), (float("inf"), "inf"), (float("-inf"), "inf")):
        y = x.clone()
        y[0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match=f"^{f.name}: input contains {word}"):
            f.quantize(y)
    with pytest.raises(FormatError, match=f"^{f.name}: input is empty"):
        f.quantize(torch.zeros(0, 8, 3, 3))
    with pytest.raises(ValueError, match=f"^{f.name}:"):
        f.quantize(torch.ones(4, 8, 3, 3, dtype=torch.int32))
    if name != "fp16":
        with pytest.raises(ValueError, match=f"^{f.name}:"):
            f.quantize(x, axis=7)


@pytest.mark.parametrize("name", ALL)
def test_straight_through_gradient(name):
    f = get_format(name)
    x = sample(name).requires_grad_(True)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    y = f.quantize(x)
    assert torch.equal(y.detach(), f.quantize(x.detach()))  # the STE does not perturb the value
    (y * w).sum().backward()
    assert torch.equal(x.grad, w)
    m = FakeQuantize(name)
    x2 = sample(name).requires_grad_(True)
    m(x2).sum().backward()
    assert torch.equal(x2.grad, torch.ones_like(x2))


def test_registry():
    assert {"fp16", "int8", "int4", "int4_pc", "int4_vsq", "int4_e4m3", "uint4_e4m3", "mxint8"} <= set(FORMAT_NAMES)
    for name in ALL + ["int4_e4m3_v32", "uint4_e4m3_v64_ts", "mxint8_v16", "int4_vsq_v32_s4_pt"]:
        f = get_format(name)
        assert isinstance(f, Format)
        assert get_format(f.name) == f
    assert get_format("int4_e4m3_v16") == get_format("int4_e4m3") == get_format("int4_e4m3", vector=16)
    assert get_format("int4_e4m3", vector=32).name == "int4_e4m3_v32"
    assert isinstance(get_format("int4_vsq"), VSQInt4)
    assert get_format("mxint8_v16").bits_per_element == 8.5
    with pytest.raises(ValueError, match="known formats: .*int4_e4m3"):
        get_format("int3")
    with pytest.raises(ValueError, match="unknown format"):
        get_format("int4_e4m3_x16")
    with pytest.raises(ValueError, match="contradicts"):
        get_format("int4_e4m3_v16", vector=32)
    with pytest.raises(ValueError, match="not valid"):
        get_format("mxint8_s4")
    with pytest.raises(ValueError):
        get_format("int4_e4m3", vector=0)
