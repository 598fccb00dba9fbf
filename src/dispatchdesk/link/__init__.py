"""The partner link: the relay worker, its transports (signed HTTP, e-mail), the link endpoint
and the demo simulator.

Nothing of the link is imported here, so that `import dispatchdesk.link` stays cheap; use the modules:
dispatchdesk.link.relay (Relay, run_relay), .endpoint (make_app), .transports, .signing,
.simulator (DemoSimulator).
"""

import logging

# Nothing is printed unless the program configures logging (run_relay does): inside the
# console a stray warning on stderr would garble the screen.
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: The port the demo simulator listens on (127.0.0.1): the demo's HTTP partners point there.
DEMO_PARTNER_PORT = 8731
