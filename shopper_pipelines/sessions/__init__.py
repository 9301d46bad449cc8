"""Sessions: rent an offer, hand off SSH, and make sure nothing bills after it should."""
