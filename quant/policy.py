"""Precision policies: which MAC operation runs at which weight / activation format.

A policy is a YAML file (built-ins in ``quant/policies/``)::

    name: sqdm
    description: SQ-DM mixed W4A4 ...
    rules:                       # first matching rule wins; every MAC node must match one
      - match: "conv_in:*"       # fnmatch pattern over the graph node id OR the module path
        weight: mxint8
        act: mxint8
      - match: "*"
        sparse_eligible: true    # optional filters: sparse_eligible (bool), kind (conv|linear|matmul)
        weight: int4_e4m3_v16
        act: uint4_e4m3_v16
      - regex: ".*"              # or a regular expression (re.fullmatch) over the node id, in the
        weight: int4_e4m3_v16    # safe subset of quant.patterns (no quantified groups, <= 2 repeats)
        act: int4_e4m3_v16

Files are read safely (``components.fileio``: size limit, UTF-8, nesting depth, no YAML aliases) and validated by the
pydantic schema of :mod:`quant.policy_schema` before any rule is used.

Format names are those of :func:`quant.formats.get_format`, plus ``fp32`` (no quantization).
:func:`apply_policy` annotates a workload graph: each MAC node gets ``weight_format``, ``act_format``,
``weight_bits`` and ``act_bits`` (storage bits per element including scales) and ``precision_bits``
(the nominal operand width the PE array runs at: 4, 8, 16 or 32), and ``graph.graph["precision"]``
records the policy name and the share of MACs at each width. The simulator reads precision from there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
from pydantic import ValidationError

from components.fileio import InputFileError, load_yaml_text, read_input_text, validation_message
from components.fileio.limits import MAX_YAML_FILE_BYTES

from workloads import MAC_KINDS

from .errors import PolicyError
from .patterns import glob_matches, regex_matches

__all__ = ["Rule", "Policy", "load_policy", "apply_policy", "builtin_policies", "POLICY_DIR", "format_info",
           "mac_share_by_bits"]

POLICY_DIR = Path(__file__).resolve().parent / "policies"


def format_info(name: str) -> tuple[float, int]:
    """(storage bits per element incl. scales, nominal operand width) of a format name; fp32 is (32, 32)."""
    if name == "fp32":
        return 32.0, 32
    from .formats import get_format
    try:
        f = get_format(name)
    except ValueError as e:
        raise PolicyError(str(e)) from None
    bpe = float(f.bits_per_element)
    return bpe, (16 if bpe >= 16 else 8 if bpe >= 8 else 4)


@dataclass(frozen=True)
class Rule:
    weight: str
    act: str
    match: str | None = None
    regex: str | None = None
    sparse_eligible: bool | None = None
    kind: str | None = None
    note: str = ""

    def matches(self, node_id: str, attrs: dict) -> bool:
        if self.kind is not None and attrs.get("kind") != self.kind:
            return False
        if self.sparse_eligible is not None and bool(attrs.get("sparse_eligible")) != self.sparse_eligible:
            return False
        if self.match is not None:
            mod = str(attrs.get("module", ""))
            if not (glob_matches(self.match, node_id) or glob_matches(self.match, mod)):
                return False
        if self.regex is not None and not regex_matches(self.regex, node_id):
            return False
        return True


@dataclass
class Policy:
    name: str
    rules: list[Rule]
    description: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    def resolve(self, node_id: str, attrs: dict) -> Rule:
        """The first rule matching node ``node_id``; :class:`PolicyError` if none does."""
        for r in self.rules:
            if r.matches(node_id, attrs):
                return r
        raise PolicyError(f"policy '{self.name}': no rule matches MAC node '{node_id}' (add a catch-all rule "
                          "with match: \"*\")")

    def assignments(self, g: nx.DiGraph) -> dict[str, Rule]:
        """node id -> rule for every MAC node of ``g``."""
        return {n: self.resolve(n, d) for n, d in g.nodes(data=True) if d.get("kind") in MAC_KINDS}

    @classmethod
    def from_dict(cls, d: object, source: str = "<dict>") -> "Policy":
        """A Policy from a mapping, validated by :class:`quant.policy_schema.PolicySpec`; one-line PolicyError."""
        from .policy_schema import PolicySpec
        where = f"policy {source}"
        if not isinstance(d, dict):
            raise PolicyError(f"{where}: top level must be a mapping with 'name' and 'rules'")
        try:
            spec = PolicySpec.model_validate(d)
        except ValidationError as e:
            raise PolicyError(validation_message(where, e)) from None
        except RecursionError:
            raise PolicyError(f"{where}: nested too deeply") from None
        rules = [Rule(weight=r.weight, act=r.act, match=r.match, regex=r.regex, sparse_eligible=r.sparse_eligible,
                      kind=r.kind, note=r.note) for r in spec.rules]
        return cls(name=spec.name or source, rules=rules, description=spec.description, source=source,
                   extra=dict(spec.extra or {}))


def builtin_policies() -> list[str]:
    """Names of the policies shipped in ``quant/policies/``."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def load_policy(policy: "str | Path | Policy | dict") -> Policy:
    """A :class:`Policy` from a built-in name (``sqdm``, ``int4``, ...), a YAML path, a dict or a Policy."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return Policy.from_dict(policy)
    if not isinstance(policy, (str, Path)) or not str(policy) or "\x00" in str(policy):
        raise PolicyError(f"policy {policy!r}: not a policy name, file, mapping or Policy")
    p = Path(policy)
    if not p.suffix and "/" not in str(policy) and (POLICY_DIR / f"{policy}.yaml").exists():
        p = POLICY_DIR / f"{policy}.yaml"
    try:
        exists = p.exists()
    except OSError:
        exists = False
    if not exists:
        raise PolicyError(f"policy '{policy}': no such file or built-in policy "
                          f"(built-ins: {', '.join(builtin_policies())})")
    try:
        d = load_yaml_text(read_input_text(p, "policy file", MAX_YAML_FILE_BYTES), f"policy file {p}")
    except InputFileError as e:
        msg = str(e)
        prefix = f"policy file {p}: "
        raise PolicyError(prefix + "unreadable (" + (msg[len(prefix):] if msg.startswith(prefix) else msg) + ")") \
            from None
    return Policy.from_dict(d, source=str(p))


def mac_share_by_bits(g: nx.DiGraph, policy: Policy) -> dict[int, float]:
    """Share of the graph's MACs at each nominal width (max of weight and activation width)."""
    total, by = 0, {}
    for n, rule in policy.assignments(g).items():
        m = int(g.nodes[n].get("macs", 0))
        w = max(format_info(rule.weight)[1], format_info(rule.act)[1])
        by[w] = by.get(w, 0) + m
        total += m
    return {k: (v / total if total else 0.0) for k, v in sorted(by.items())}


def apply_policy(g: nx.DiGraph, policy: "str | Path | Policy | dict") -> nx.DiGraph:
    """A copy of workload graph ``g`` whose MAC nodes carry their formats (see the module docstring)."""
    pol = load_policy(policy)
    h = g.copy()
    for n, rule in pol.assignments(g).items():
        wb, ww = format_info(rule.weight)
        ab, aw = format_info(rule.act)
        h.nodes[n].update(weight_format=rule.weight, act_format=rule.act, weight_bits=wb, act_bits=ab,
                          precision_bits=max(ww, aw))
    share = mac_share_by_bits(g, pol)
    h.graph["precision"] = {"policy": pol.name, "source": pol.source,
                            "mac_share_by_bits": {str(k): v for k, v in share.items()},
                            "mac_share_8bit": share.get(8, 0.0)}
    return h
