from services.common.migrations import run_env
from services.tools.store.tables import metadata

run_env(metadata)
