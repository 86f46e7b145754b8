"""PrimeCloud shared layer: models, services, adapters and the HTTP/job edges."""
