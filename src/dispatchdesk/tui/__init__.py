"""The dispatch console: a Textual app on top of the services. It decides no rule itself."""
