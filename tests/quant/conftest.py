import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def relu_graph():
    from quant import mac_graph
    return mac_graph("relu")


@pytest.fixture(scope="session")
def relu_model():
    from quant import load_digits_unet
    return load_digits_unet("relu")
