"""The configs shipped in components/configs/: list and load them by name."""

from __future__ import annotations

from pathlib import Path

from .config import HardwareConfig, load_hardware_config
from .errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_shipped_configs() -> list[str]:
    """Names of the shipped configs (file stems), sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def shipped_config_path(name: str) -> Path:
    """Path of a shipped config; ConfigError listing the names if unknown."""
    stem = name[:-5] if name.endswith(".yaml") else name
    if stem not in list_shipped_configs():
        raise ConfigError(name, "<name>", f"no shipped config {name!r}; shipped: {', '.join(list_shipped_configs())}")
    return CONFIG_DIR / f"{stem}.yaml"


def load_shipped_config(name: str) -> HardwareConfig:
    """Load a shipped config by name (e.g. "sqdm", "fp16-dense")."""
    return load_hardware_config(shipped_config_path(name))
