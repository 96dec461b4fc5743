"""``python -m services.tools``: run the tools service."""

from services.common.app import Wiring, main
from services.common.settings import Settings
from services.tools.api import registrations


async def wire(settings: Settings) -> Wiring:
    return Wiring(registrations())


if __name__ == "__main__":
    main("tools", wire)
