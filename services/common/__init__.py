"""What every agentsuite service shares: settings, server lifecycle, database, errors, clients."""
