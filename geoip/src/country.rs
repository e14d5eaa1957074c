//! ISO 3166-1 country codes as used by GeoIP conditions.
//!
//! A [`CountryCode`] can only hold an *assigned* alpha-2 code, so a typo in a
//! rule file (`DX`, `UK`) is an error at load time instead of a condition that
//! silently never matches.

use std::fmt;
use std::str::FromStr;

/// An assigned ISO 3166-1 alpha-2 code, always uppercase (`DE`, `US`, `XK`).
///
/// Built only by [`CountryCode::parse`], so every value is a real code.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CountryCode([u8; 2]);

/// A code that is not an assigned ISO 3166-1 alpha-2 code.
///
/// `suggestion` is a likely intended code when there is an obvious one
/// (`UK` -> `GB`, `DEU` -> `DE`), else `None`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an ISO 3166-1 country code; {}", hint(.suggestion))]
pub struct UnknownCountry {
    /// What was given, as written.
    pub input: String,
    /// The code the user probably meant.
    pub suggestion: Option<CountryCode>,
}

fn hint(suggestion: &Option<CountryCode>) -> String {
    match suggestion {
        Some(code) => format!("did you mean {code}?"),
        None => "use an assigned two-letter code such as DE or US (or `unknown` where allowed)"
            .to_owned(),
    }
}

impl CountryCode {
    /// Parses a two-letter code in any case (`de`, `De`, `DE`).
    ///
    /// Errors with [`UnknownCountry`] for anything that is not one of the 249
    /// assigned codes or `XK` (Kosovo, used by MaxMind).
    pub fn parse(s: &str) -> Result<CountryCode, UnknownCountry> {
        let unknown = || UnknownCountry {
            input: s.to_owned(),
            suggestion: suggest(s),
        };
        let &[a, b] = s.as_bytes() else {
            return Err(unknown());
        };
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        if ASSIGNED.binary_search(&code).is_ok() {
            Ok(CountryCode(code))
        } else {
            Err(unknown())
        }
    }

    /// The uppercase code, e.g. `"DE"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters from `ASSIGNED` ever get in, so this never fails;
        // the fallback keeps library code free of panics anyway.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// Likely intended code for common mistakes: the UK / EL exceptional
/// reservations and alpha-3 codes.
fn suggest(s: &str) -> Option<CountryCode> {
    let upper = s.trim().to_ascii_uppercase();
    let code = match upper.as_bytes() {
        b"UK" => *b"GB",
        b"EL" => *b"GR",
        &[a, b, c] => {
            let i = ALPHA3.binary_search_by(|(k, _)| k.cmp(&[a, b, c])).ok()?;
            ALPHA3[i].1
        }
        &[a, b] if ASSIGNED.binary_search(&[a, b]).is_ok() => [a, b],
        _ => return None,
    };
    Some(CountryCode(code))
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = UnknownCountry;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where GeoIP places an address: a country, or `Unknown` when the database
/// has no country for it (not found, a record without a country such as an
/// anycast block, or no database loaded).
///
/// `Unknown` is matched only by a location that lists `unknown` explicitly.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Country {
    /// The address is in this country.
    Known(CountryCode),
    /// GeoIP cannot place the address.
    Unknown,
}

impl Country {
    /// Parses a country code (any case) or `unknown` (any case).
    pub fn parse(s: &str) -> Result<Country, UnknownCountry> {
        if s.eq_ignore_ascii_case("unknown") {
            Ok(Country::Unknown)
        } else {
            CountryCode::parse(s).map(Country::Known)
        }
    }

    /// `"DE"` or `"unknown"`.
    pub fn as_str(&self) -> &str {
        match self {
            Country::Known(code) => code.as_str(),
            Country::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Country {
    type Err = UnknownCountry;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Country::parse(s)
    }
}

impl From<CountryCode> for Country {
    fn from(code: CountryCode) -> Self {
        Country::Known(code)
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Country::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Assigned ISO 3166-1 alpha-2 codes (249, from Debian iso-codes 4.15.0) plus `XK`,
/// which MaxMind uses for Kosovo. Sorted, so lookups are a binary search.
const ASSIGNED: [[u8; 2]; 250] = [
    *b"AD", *b"AE", *b"AF", *b"AG", *b"AI", *b"AL", *b"AM", *b"AO", *b"AQ", *b"AR", *b"AS", *b"AT",
    *b"AU", *b"AW", *b"AX", *b"AZ", *b"BA", *b"BB", *b"BD", *b"BE", *b"BF", *b"BG", *b"BH", *b"BI",
    *b"BJ", *b"BL", *b"BM", *b"BN", *b"BO", *b"BQ", *b"BR", *b"BS", *b"BT", *b"BV", *b"BW", *b"BY",
    *b"BZ", *b"CA", *b"CC", *b"CD", *b"CF", *b"CG", *b"CH", *b"CI", *b"CK", *b"CL", *b"CM", *b"CN",
    *b"CO", *b"CR", *b"CU", *b"CV", *b"CW", *b"CX", *b"CY", *b"CZ", *b"DE", *b"DJ", *b"DK", *b"DM",
    *b"DO", *b"DZ", *b"EC", *b"EE", *b"EG", *b"EH", *b"ER", *b"ES", *b"ET", *b"FI", *b"FJ", *b"FK",
    *b"FM", *b"FO", *b"FR", *b"GA", *b"GB", *b"GD", *b"GE", *b"GF", *b"GG", *b"GH", *b"GI", *b"GL",
    *b"GM", *b"GN", *b"GP", *b"GQ", *b"GR", *b"GS", *b"GT", *b"GU", *b"GW", *b"GY", *b"HK", *b"HM",
    *b"HN", *b"HR", *b"HT", *b"HU", *b"ID", *b"IE", *b"IL", *b"IM", *b"IN", *b"IO", *b"IQ", *b"IR",
    *b"IS", *b"IT", *b"JE", *b"JM", *b"JO", *b"JP", *b"KE", *b"KG", *b"KH", *b"KI", *b"KM", *b"KN",
    *b"KP", *b"KR", *b"KW", *b"KY", *b"KZ", *b"LA", *b"LB", *b"LC", *b"LI", *b"LK", *b"LR", *b"LS",
    *b"LT", *b"LU", *b"LV", *b"LY", *b"MA", *b"MC", *b"MD", *b"ME", *b"MF", *b"MG", *b"MH", *b"MK",
    *b"ML", *b"MM", *b"MN", *b"MO", *b"MP", *b"MQ", *b"MR", *b"MS", *b"MT", *b"MU", *b"MV", *b"MW",
    *b"MX", *b"MY", *b"MZ", *b"NA", *b"NC", *b"NE", *b"NF", *b"NG", *b"NI", *b"NL", *b"NO", *b"NP",
    *b"NR", *b"NU", *b"NZ", *b"OM", *b"PA", *b"PE", *b"PF", *b"PG", *b"PH", *b"PK", *b"PL", *b"PM",
    *b"PN", *b"PR", *b"PS", *b"PT", *b"PW", *b"PY", *b"QA", *b"RE", *b"RO", *b"RS", *b"RU", *b"RW",
    *b"SA", *b"SB", *b"SC", *b"SD", *b"SE", *b"SG", *b"SH", *b"SI", *b"SJ", *b"SK", *b"SL", *b"SM",
    *b"SN", *b"SO", *b"SR", *b"SS", *b"ST", *b"SV", *b"SX", *b"SY", *b"SZ", *b"TC", *b"TD", *b"TF",
    *b"TG", *b"TH", *b"TJ", *b"TK", *b"TL", *b"TM", *b"TN", *b"TO", *b"TR", *b"TT", *b"TV", *b"TW",
    *b"TZ", *b"UA", *b"UG", *b"UM", *b"US", *b"UY", *b"UZ", *b"VA", *b"VC", *b"VE", *b"VG", *b"VI",
    *b"VN", *b"VU", *b"WF", *b"WS", *b"XK", *b"YE", *b"YT", *b"ZA", *b"ZM", *b"ZW",
];

/// ISO 3166-1 alpha-3 -> alpha-2, sorted by alpha-3; only used to suggest a fix.
const ALPHA3: [([u8; 3], [u8; 2]); 250] = [
    (*b"ABW", *b"AW"),
    (*b"AFG", *b"AF"),
    (*b"AGO", *b"AO"),
    (*b"AIA", *b"AI"),
    (*b"ALA", *b"AX"),
    (*b"ALB", *b"AL"),
    (*b"AND", *b"AD"),
    (*b"ARE", *b"AE"),
    (*b"ARG", *b"AR"),
    (*b"ARM", *b"AM"),
    (*b"ASM", *b"AS"),
    (*b"ATA", *b"AQ"),
    (*b"ATF", *b"TF"),
    (*b"ATG", *b"AG"),
    (*b"AUS", *b"AU"),
    (*b"AUT", *b"AT"),
    (*b"AZE", *b"AZ"),
    (*b"BDI", *b"BI"),
    (*b"BEL", *b"BE"),
    (*b"BEN", *b"BJ"),
    (*b"BES", *b"BQ"),
    (*b"BFA", *b"BF"),
    (*b"BGD", *b"BD"),
    (*b"BGR", *b"BG"),
    (*b"BHR", *b"BH"),
    (*b"BHS", *b"BS"),
    (*b"BIH", *b"BA"),
    (*b"BLM", *b"BL"),
    (*b"BLR", *b"BY"),
    (*b"BLZ", *b"BZ"),
    (*b"BMU", *b"BM"),
    (*b"BOL", *b"BO"),
    (*b"BRA", *b"BR"),
    (*b"BRB", *b"BB"),
    (*b"BRN", *b"BN"),
    (*b"BTN", *b"BT"),
    (*b"BVT", *b"BV"),
    (*b"BWA", *b"BW"),
    (*b"CAF", *b"CF"),
    (*b"CAN", *b"CA"),
    (*b"CCK", *b"CC"),
    (*b"CHE", *b"CH"),
    (*b"CHL", *b"CL"),
    (*b"CHN", *b"CN"),
    (*b"CIV", *b"CI"),
    (*b"CMR", *b"CM"),
    (*b"COD", *b"CD"),
    (*b"COG", *b"CG"),
    (*b"COK", *b"CK"),
    (*b"COL", *b"CO"),
    (*b"COM", *b"KM"),
    (*b"CPV", *b"CV"),
    (*b"CRI", *b"CR"),
    (*b"CUB", *b"CU"),
    (*b"CUW", *b"CW"),
    (*b"CXR", *b"CX"),
    (*b"CYM", *b"KY"),
    (*b"CYP", *b"CY"),
    (*b"CZE", *b"CZ"),
    (*b"DEU", *b"DE"),
    (*b"DJI", *b"DJ"),
    (*b"DMA", *b"DM"),
    (*b"DNK", *b"DK"),
    (*b"DOM", *b"DO"),
    (*b"DZA", *b"DZ"),
    (*b"ECU", *b"EC"),
    (*b"EGY", *b"EG"),
    (*b"ERI", *b"ER"),
    (*b"ESH", *b"EH"),
    (*b"ESP", *b"ES"),
    (*b"EST", *b"EE"),
    (*b"ETH", *b"ET"),
    (*b"FIN", *b"FI"),
    (*b"FJI", *b"FJ"),
    (*b"FLK", *b"FK"),
    (*b"FRA", *b"FR"),
    (*b"FRO", *b"FO"),
    (*b"FSM", *b"FM"),
    (*b"GAB", *b"GA"),
    (*b"GBR", *b"GB"),
    (*b"GEO", *b"GE"),
    (*b"GGY", *b"GG"),
    (*b"GHA", *b"GH"),
    (*b"GIB", *b"GI"),
    (*b"GIN", *b"GN"),
    (*b"GLP", *b"GP"),
    (*b"GMB", *b"GM"),
    (*b"GNB", *b"GW"),
    (*b"GNQ", *b"GQ"),
    (*b"GRC", *b"GR"),
    (*b"GRD", *b"GD"),
    (*b"GRL", *b"GL"),
    (*b"GTM", *b"GT"),
    (*b"GUF", *b"GF"),
    (*b"GUM", *b"GU"),
    (*b"GUY", *b"GY"),
    (*b"HKG", *b"HK"),
    (*b"HMD", *b"HM"),
    (*b"HND", *b"HN"),
    (*b"HRV", *b"HR"),
    (*b"HTI", *b"HT"),
    (*b"HUN", *b"HU"),
    (*b"IDN", *b"ID"),
    (*b"IMN", *b"IM"),
    (*b"IND", *b"IN"),
    (*b"IOT", *b"IO"),
    (*b"IRL", *b"IE"),
    (*b"IRN", *b"IR"),
    (*b"IRQ", *b"IQ"),
    (*b"ISL", *b"IS"),
    (*b"ISR", *b"IL"),
    (*b"ITA", *b"IT"),
    (*b"JAM", *b"JM"),
    (*b"JEY", *b"JE"),
    (*b"JOR", *b"JO"),
    (*b"JPN", *b"JP"),
    (*b"KAZ", *b"KZ"),
    (*b"KEN", *b"KE"),
    (*b"KGZ", *b"KG"),
    (*b"KHM", *b"KH"),
    (*b"KIR", *b"KI"),
    (*b"KNA", *b"KN"),
    (*b"KOR", *b"KR"),
    (*b"KWT", *b"KW"),
    (*b"LAO", *b"LA"),
    (*b"LBN", *b"LB"),
    (*b"LBR", *b"LR"),
    (*b"LBY", *b"LY"),
    (*b"LCA", *b"LC"),
    (*b"LIE", *b"LI"),
    (*b"LKA", *b"LK"),
    (*b"LSO", *b"LS"),
    (*b"LTU", *b"LT"),
    (*b"LUX", *b"LU"),
    (*b"LVA", *b"LV"),
    (*b"MAC", *b"MO"),
    (*b"MAF", *b"MF"),
    (*b"MAR", *b"MA"),
    (*b"MCO", *b"MC"),
    (*b"MDA", *b"MD"),
    (*b"MDG", *b"MG"),
    (*b"MDV", *b"MV"),
    (*b"MEX", *b"MX"),
    (*b"MHL", *b"MH"),
    (*b"MKD", *b"MK"),
    (*b"MLI", *b"ML"),
    (*b"MLT", *b"MT"),
    (*b"MMR", *b"MM"),
    (*b"MNE", *b"ME"),
    (*b"MNG", *b"MN"),
    (*b"MNP", *b"MP"),
    (*b"MOZ", *b"MZ"),
    (*b"MRT", *b"MR"),
    (*b"MSR", *b"MS"),
    (*b"MTQ", *b"MQ"),
    (*b"MUS", *b"MU"),
    (*b"MWI", *b"MW"),
    (*b"MYS", *b"MY"),
    (*b"MYT", *b"YT"),
    (*b"NAM", *b"NA"),
    (*b"NCL", *b"NC"),
    (*b"NER", *b"NE"),
    (*b"NFK", *b"NF"),
    (*b"NGA", *b"NG"),
    (*b"NIC", *b"NI"),
    (*b"NIU", *b"NU"),
    (*b"NLD", *b"NL"),
    (*b"NOR", *b"NO"),
    (*b"NPL", *b"NP"),
    (*b"NRU", *b"NR"),
    (*b"NZL", *b"NZ"),
    (*b"OMN", *b"OM"),
    (*b"PAK", *b"PK"),
    (*b"PAN", *b"PA"),
    (*b"PCN", *b"PN"),
    (*b"PER", *b"PE"),
    (*b"PHL", *b"PH"),
    (*b"PLW", *b"PW"),
    (*b"PNG", *b"PG"),
    (*b"POL", *b"PL"),
    (*b"PRI", *b"PR"),
    (*b"PRK", *b"KP"),
    (*b"PRT", *b"PT"),
    (*b"PRY", *b"PY"),
    (*b"PSE", *b"PS"),
    (*b"PYF", *b"PF"),
    (*b"QAT", *b"QA"),
    (*b"REU", *b"RE"),
    (*b"ROU", *b"RO"),
    (*b"RUS", *b"RU"),
    (*b"RWA", *b"RW"),
    (*b"SAU", *b"SA"),
    (*b"SDN", *b"SD"),
    (*b"SEN", *b"SN"),
    (*b"SGP", *b"SG"),
    (*b"SGS", *b"GS"),
    (*b"SHN", *b"SH"),
    (*b"SJM", *b"SJ"),
    (*b"SLB", *b"SB"),
    (*b"SLE", *b"SL"),
    (*b"SLV", *b"SV"),
    (*b"SMR", *b"SM"),
    (*b"SOM", *b"SO"),
    (*b"SPM", *b"PM"),
    (*b"SRB", *b"RS"),
    (*b"SSD", *b"SS"),
    (*b"STP", *b"ST"),
    (*b"SUR", *b"SR"),
    (*b"SVK", *b"SK"),
    (*b"SVN", *b"SI"),
    (*b"SWE", *b"SE"),
    (*b"SWZ", *b"SZ"),
    (*b"SXM", *b"SX"),
    (*b"SYC", *b"SC"),
    (*b"SYR", *b"SY"),
    (*b"TCA", *b"TC"),
    (*b"TCD", *b"TD"),
    (*b"TGO", *b"TG"),
    (*b"THA", *b"TH"),
    (*b"TJK", *b"TJ"),
    (*b"TKL", *b"TK"),
    (*b"TKM", *b"TM"),
    (*b"TLS", *b"TL"),
    (*b"TON", *b"TO"),
    (*b"TTO", *b"TT"),
    (*b"TUN", *b"TN"),
    (*b"TUR", *b"TR"),
    (*b"TUV", *b"TV"),
    (*b"TWN", *b"TW"),
    (*b"TZA", *b"TZ"),
    (*b"UGA", *b"UG"),
    (*b"UKR", *b"UA"),
    (*b"UMI", *b"UM"),
    (*b"URY", *b"UY"),
    (*b"USA", *b"US"),
    (*b"UZB", *b"UZ"),
    (*b"VAT", *b"VA"),
    (*b"VCT", *b"VC"),
    (*b"VEN", *b"VE"),
    (*b"VGB", *b"VG"),
    (*b"VIR", *b"VI"),
    (*b"VNM", *b"VN"),
    (*b"VUT", *b"VU"),
    (*b"WLF", *b"WF"),
    (*b"WSM", *b"WS"),
    (*b"XKX", *b"XK"),
    (*b"YEM", *b"YE"),
    (*b"ZAF", *b"ZA"),
    (*b"ZMB", *b"ZM"),
    (*b"ZWE", *b"ZW"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_to_uppercase() {
        for s in ["de", "De", "dE", "DE"] {
            assert_eq!(CountryCode::parse(s).unwrap().as_str(), "DE");
        }
        assert_eq!("xk".parse::<CountryCode>().unwrap().to_string(), "XK");
    }

    #[test]
    fn table_is_sorted_and_complete() {
        assert_eq!(ASSIGNED.len(), 250);
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]));
        assert!(ALPHA3.windows(2).all(|w| w[0].0 < w[1].0));
        for code in ASSIGNED {
            let s = std::str::from_utf8(&code).unwrap();
            assert_eq!(CountryCode::parse(s).unwrap().as_str(), s);
        }
        for (_, a2) in ALPHA3 {
            assert!(ASSIGNED.binary_search(&a2).is_ok());
        }
    }

    #[test]
    fn rejects_unassigned_with_message() {
        let err = CountryCode::parse("DX").unwrap_err();
        assert_eq!(err.input, "DX");
        assert_eq!(err.suggestion, None);
        assert!(
            err.to_string()
                .starts_with("`DX` is not an ISO 3166-1 country code; use")
        );
        for bad in [
            "", "D", "DEU ", "AA", "ZZ", "EU", "1A", "ÄÖ", "D\u{0}", "unknown",
        ] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn suggests_common_fixes() {
        let gb = CountryCode::parse("GB").unwrap();
        assert_eq!(CountryCode::parse("UK").unwrap_err().suggestion, Some(gb));
        assert_eq!(
            CountryCode::parse("uk").unwrap_err().to_string(),
            "`uk` is not an ISO 3166-1 country code; did you mean GB?"
        );
        assert_eq!(
            CountryCode::parse("deu").unwrap_err().suggestion,
            Some(CountryCode::parse("DE").unwrap())
        );
        assert_eq!(
            CountryCode::parse("EL").unwrap_err().suggestion,
            Some(CountryCode::parse("GR").unwrap())
        );
        assert_eq!(
            CountryCode::parse(" de").unwrap_err().suggestion,
            Some(CountryCode::parse("DE").unwrap())
        );
    }

    #[test]
    fn country_parses_unknown() {
        assert_eq!(Country::parse("unknown").unwrap(), Country::Unknown);
        assert_eq!(Country::parse("UNKNOWN").unwrap(), Country::Unknown);
        assert_eq!(Country::Unknown.to_string(), "unknown");
        let kp = Country::parse("kp").unwrap();
        assert_eq!(kp, Country::Known(CountryCode::parse("KP").unwrap()));
        assert_eq!(kp.as_str(), "KP");
        assert!(Country::parse("unknow").is_err());
    }

    #[test]
    fn ordering_is_alphabetical() {
        let at = CountryCode::parse("AT").unwrap();
        let de = CountryCode::parse("DE").unwrap();
        assert!(at < de);
    }
}
