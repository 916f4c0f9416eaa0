"""Places and phone numbers as Chinese operations data has them: GB/T 2260 divisions, mobile numbers."""

from jingyun.places.divisions import Division, Place, lookup, normalise
from jingyun.places.phones import Phone, carrier, normalise_phone

__all__ = ["Division", "Phone", "Place", "carrier", "lookup", "normalise", "normalise_phone"]
