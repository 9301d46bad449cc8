"""The Dagster code location: merges each capability's definitions, nothing more."""

from dagster import Definitions

from shopper_pipelines.inventory.defs import defs as inventory_defs

defs = Definitions.merge(inventory_defs)
