"""Local runtime: embedded services, the local API gateway, function invocation, dev stack."""
