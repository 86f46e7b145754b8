"""Build and documentation tools: openapi.json (``openapi``), sam build's check (``build_check``) and
``add-function`` (``scaffold``). The local gateway uses only ``openapi.docs_file``, to serve /docs."""
