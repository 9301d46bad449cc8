"""The Dagster code location: merges each capability's definitions, nothing more."""

from dagster import Definitions

from shopper_pipelines.benchmarks import defs as benchmarks
from shopper_pipelines.costs import defs as costs
from shopper_pipelines.inventory import defs as inventory
from shopper_pipelines.reports import defs as reports
from shopper_pipelines.sessions import defs as sessions

# Modules, not their `defs` objects, are imported: Dagster refuses a code location
# with more than one Definitions object at module scope.
defs = Definitions.merge(inventory.defs, sessions.defs, costs.defs, benchmarks.defs, reports.defs)
