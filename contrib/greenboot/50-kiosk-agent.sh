#!/bin/sh
# greenboot required health check (install to /etc/greenboot/check/required.d/50-kiosk-agent.sh): a
# non-zero exit marks the boot failed; after the configured boot_counter attempts greenboot rolls back
# to the previous deployment (rpm-ostree rollback / the other A/B slot). Save the baseline before
# staging an update with contrib/greenboot/kiosk-agent-baseline. See docs/updates.md.
set -u
KIOSK_AGENT=${KIOSK_AGENT:-kiosk-agent}
exec "$KIOSK_AGENT" health-check --wait "${KIOSK_AGENT_HEALTH_WAIT:-300}"
