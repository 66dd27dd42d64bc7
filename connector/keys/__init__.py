"""Reading credentials the settings carry: the signing key and certificate of the JWT client assertion (PEM,
PKCS#12, rjsf data URLs), loaded and checked at ``connect``. Below ``auth`` so that settings can check a key without
importing the OAuth grants.
"""
