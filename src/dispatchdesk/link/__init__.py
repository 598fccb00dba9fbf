"""The partner link: the relay worker, its transports (signed HTTP, e-mail), the link endpoint
and the demo simulator.

Nothing is imported here, so that `import dispatchdesk.link` stays cheap; use the modules:
dispatchdesk.link.relay (Relay, run_relay), .endpoint (make_app), .transports, .signing,
.simulator (DemoSimulator).
"""
