"""sqdm-sim hardware components: config, cost functions and SimPy blocks of an SQ-DM-style accelerator.

Depends on simpy, numpy, pydantic and pyyaml only. Time unit: one clock cycle.

Config:    HardwareConfig, load_hardware_config, parse_hardware_config, hardware_config_from_yaml,
           list_shipped_configs, load_shipped_config, ConfigError; FORMATS (the closed set of formats)
Costs:     dram_access_cost, channel_subset_pattern, buffer_access_cycles, dense_compute_cycles,
           maeri_mapping_utilization, sparse_compute_cycles, vector_cycles, map_tile (VN mapping of a
           tile on a PE array: cycles, utilization, local-buffer accesses)   (pure, shared with analytical models)
Blocks:    Dram, Buffer, DensePECluster, SparsePECluster, VectorUnit, SparsityDetector (+ policies)
Records:   ActivityRecorder; EnergyModel -> EnergyBreakdown; HardwareConfig.area_mm2() -> AreaBreakdown
"""

from ._loading import read_yaml_mapping
from .area import AreaBreakdown, area_breakdown
from .array import ArrayMapping, TileShape, map_tile
from .buffer import Buffer, buffer_access_cycles
from .config import (
    COMPONENT_NAMES,
    DENSE_CLUSTER,
    DENSE_LOCAL_BUFFER,
    DETECTOR,
    DRAM,
    GLOBAL_BUFFER,
    SPARSE_CLUSTER,
    SPARSE_LOCAL_BUFFER,
    VECTOR_UNIT,
    AreaConfig,
    BufferConfig,
    DenseClusterConfig,
    DetectorConfig,
    DramConfig,
    EnergyConfig,
    FusionConfig,
    HardwareConfig,
    ResidencyConfig,
    SparseClusterConfig,
    VectorUnitConfig,
    hardware_config_from_yaml,
    load_hardware_config,
    parse_hardware_config,
)
from .dense import DensePECluster, dense_compute_cycles, maeri_mapping_utilization, mapping_utilization
from .detector import (
    EveryKPolicy,
    LabelPolicy,
    OraclePolicy,
    PerStepPolicy,
    PolicyContext,
    SparsityDetector,
    StaticPolicy,
    labels_from_zero_fraction,
    make_policy,
    register_policy,
    registered_policies,
)
from .dram import AccessPattern, Dram, DramCost, channel_subset_pattern, dram_access_cost
from .energy import EnergyBreakdown, EnergyModel, macs_counter
from .errors import CapacityError, ConfigError, UnsupportedFormatError
from .placement import PLACEMENT_POLICIES, peak_macs_per_cycle, split_input_channels, split_output_channels
from .formats import FORMAT_FAMILY, FORMATS, FormatName, accumulator_bits, element_bits, format_family
from .shipped import list_shipped_configs, load_shipped_config, shipped_config_path
from .sparse import SparsePECluster, sparse_compute_cycles
from .stats import ActivityRecorder, merge_intervals
from .tables import AreaTable, EnergyTable, load_area_table, load_energy_table
from .vector import VectorUnit, vector_cycles, vector_ops

__all__ = [name for name in dir() if not name.startswith("_")]
