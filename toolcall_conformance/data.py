"""Where the suite's data files lie: the checkout's schemas/ (tool sets, envelope schemas, bad requests)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "schemas"
TOOLS_DIR = SCHEMAS_DIR / "tools"
ENVELOPES_DIR = SCHEMAS_DIR / "openai"
BAD_REQUESTS_FILE = SCHEMAS_DIR / "bad-requests.json"
CONTRACT_FILE = SCHEMAS_DIR / "contract.json"
