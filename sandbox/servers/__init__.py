"""Local HTTP servers standing in for the warehouse's two upstream APIs.

* :class:`MarketingAPIServer` -- the marketing platform's paginated REST API (``/v1/channels``, ...).
* :class:`SGSAPIServer` -- the Banco Central do Brasil SGS time-series API (IPCA 433, Selic 432).

Both serve the files the sandbox generator writes, run on a daemon thread (``start()``/``stop()`` or
``with``), keep a request log and take injected faults (:class:`Fault`) for retry and timeout tests.
``python -m sandbox.servers`` serves both from the command line.
"""

from sandbox.servers.base import Fault, MockServer, RequestRecord
from sandbox.servers.marketing_api import MarketingAPIServer
from sandbox.servers.sgs_api import SGSAPIServer

__all__ = ["Fault", "MarketingAPIServer", "MockServer", "RequestRecord", "SGSAPIServer"]
