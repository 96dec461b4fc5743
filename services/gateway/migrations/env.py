from services.common.migrations import run_env
from services.gateway.store.tables import metadata

run_env(metadata)
