"""Local runtime: embedded services, the local API gateway, function invocation, dev stack.

``python -m localrun <command>`` is the entry point. ``invoke``/``template`` run the template's handlers;
``gateway/`` is the local HTTP API; ``services/`` what runs beside the functions; ``tools/`` the build and
doc tools. The deployed layer (primecloud) never imports this package.
"""
