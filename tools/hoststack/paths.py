"""Where the launcher finds the repository's deployment files: it runs from a
checkout (an editable install), never from an image."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GATEWAY_TEMPLATE = DEPLOY / "nginx" / "templates" / "gateway.conf.template"
MIGRATION_ROLE_SCRIPT = DEPLOY / "postgres" / "migration-role.psql"
DEV_RUN_DIR = REPO / ".run" / "dev"
