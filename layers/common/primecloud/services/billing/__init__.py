"""Billing, one module per part: periods, usage aggregation, rating, pricing, drafts, subscription terms,
the monthly run, the upcoming invoice, invoicing (issuing), invoices, payments, orders and dunning.

Importers name the module they need (``from primecloud.services.billing import invoices``): nothing
is re-exported here, so a handler loads only the parts it uses.
"""
