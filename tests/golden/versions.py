"""The three deploys of samples/versioning.py as MODULE:APP names, for ``durable replay``."""

from samples.versioning import checkout_v1, checkout_v2, checkout_v2_unsafe, deploy

v1 = deploy(checkout_v1)
v2_unsafe = deploy(checkout_v2_unsafe)
v2 = deploy(checkout_v2)
