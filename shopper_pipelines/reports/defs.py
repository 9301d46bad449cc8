"""Dagster definitions of the reports capability."""

from dagster import Definitions

from shopper_pipelines.resources import RESOURCES

defs = Definitions(resources=RESOURCES)
