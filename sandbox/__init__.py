"""The sandbox: generated stand-in upstream data and local servers for the upstream APIs.

* :mod:`sandbox.generate` -- ``python -m sandbox.generate``: writes the order files (Olist format), the
  marketing platform's records, the ERP's CSV files and the BCB series, batch by batch;
* :mod:`sandbox.model` -- the simulated shop behind all of them (people, orders, marketing, costs);
* :mod:`sandbox.tables` -- the shop's contents formatted as each upstream system shows them;
* :mod:`sandbox.reference` -- fixed reference data (places, categories, campaigns, BCB values);
* :mod:`sandbox.erp` -- seeds the ERP database from the generated CSV files;
* :mod:`sandbox.servers` -- local HTTP servers standing in for the upstream APIs.
"""
