"""dispatchdesk: a terminal dispatch console for courier and haulage depots."""

__version__ = "0.1.0"
