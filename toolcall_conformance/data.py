"""Where the suite's own files lie: the tests, the data under schemas/ and the target's install script.

In a checkout they are the repository's top-level tests/, schemas/ and scripts/. A built wheel carries the same
files inside the package (pyproject.toml maps tests/ to toolcall_conformance/suite, schemas/ to
toolcall_conformance/schemas and the install script to toolcall_conformance/installer), so an installed suite
runs from any directory.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
INSTALLED = (PACKAGE_DIR / "suite").is_dir()  # a wheel's layout; a checkout (or an editable install) has none

SUITE_DIR = PACKAGE_DIR / "suite" if INSTALLED else REPO_ROOT / "tests"
SCHEMAS_DIR = PACKAGE_DIR / "schemas" if INSTALLED else REPO_ROOT / "schemas"
INSTALL_TARGET_SCRIPT = (
    PACKAGE_DIR / "installer" / "install-target" if INSTALLED else REPO_ROOT / "scripts" / "install-target"
)
TOOLS_DIR = SCHEMAS_DIR / "tools"
TOOLSET_SCHEMA_FILE = TOOLS_DIR / "toolset.schema.json"
ENVELOPES_DIR = SCHEMAS_DIR / "openai"
BAD_REQUESTS_FILE = SCHEMAS_DIR / "bad-requests.json"
CONTRACT_FILE = SCHEMAS_DIR / "contract.json"
# How a person installs the embedded target from where this copy of the suite lives.
INSTALL_TARGET_COMMAND = "toolcall-conformance install-target" if INSTALLED else "scripts/install-target"
