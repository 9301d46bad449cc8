"""Country names as TensorDock writes them -> ISO 3166 alpha-2 codes."""

_CODES = {
    "argentina": "AR", "australia": "AU", "austria": "AT", "belgium": "BE", "brazil": "BR",
    "bulgaria": "BG", "canada": "CA", "chile": "CL", "china": "CN", "croatia": "HR",
    "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "estonia": "EE",
    "finland": "FI", "france": "FR", "germany": "DE", "greece": "GR", "hong kong": "HK",
    "hungary": "HU", "iceland": "IS", "india": "IN", "indonesia": "ID", "ireland": "IE",
    "israel": "IL", "italy": "IT", "japan": "JP", "kazakhstan": "KZ", "latvia": "LV",
    "lithuania": "LT", "luxembourg": "LU", "malaysia": "MY", "mexico": "MX",
    "netherlands": "NL", "the netherlands": "NL", "new zealand": "NZ", "norway": "NO",
    "philippines": "PH", "poland": "PL", "portugal": "PT", "romania": "RO", "russia": "RU",
    "serbia": "RS", "singapore": "SG", "slovakia": "SK", "slovenia": "SI",
    "south africa": "ZA", "south korea": "KR", "korea": "KR", "spain": "ES", "sweden": "SE",
    "switzerland": "CH", "taiwan": "TW", "thailand": "TH", "turkey": "TR", "ukraine": "UA",
    "united arab emirates": "AE", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "united states": "US", "united states of america": "US", "usa": "US", "us": "US",
    "vietnam": "VN",
}  # fmt: skip


def country_code(name: str | None) -> str | None:
    """ISO code for a country name or code; None when unknown or empty."""
    if not name or not name.strip():
        return None
    text = name.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _CODES.get(text.lower())
