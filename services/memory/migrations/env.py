from services.common.migrations import run_env
from services.memory.store.tables import metadata

run_env(metadata)
