"""The check: probes (I/O) and the diagnosis (pure).

dnspython asks importlib.metadata, the first time it is imported, whether its
optional packages are installed: about 20 ms of every `gateway check`. The check
uses none of those features (no DNS over HTTPS or QUIC, no DNSSEC validation, no
trio; names reach dnspython already in ASCII, converted by checks/target.py with
IDNA 2008), so they are settled here, before checks/dns.py imports dnspython.
"""

import dns._features as _dnspython_features

for _feature in ("doh", "doq", "dnssec", "trio", "wmi", "idna"):
    _dnspython_features.force(_feature, False)
