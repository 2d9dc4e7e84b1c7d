"""The relay as its process tests start it: `python -m host_tools.relay`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import interim_verifier  # noqa: E402,F401  (until the verifier branch lands)

from host_tools.relay.__main__ import main  # noqa: E402

sys.exit(main())
