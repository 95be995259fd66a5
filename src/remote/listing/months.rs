//! Month names as listings print them: English, and the localized forms that servers running
//! under another locale put into `ls -l`-style and VMS dates (German `Mär`, `Okt.`; French
//! `févr.`, `déc.`, `juil.`; Spanish `ene`, `dic`; Italian, Dutch, Portuguese, Scandinavian,
//! Finnish, Polish, Hungarian, Russian), and the CJK `4月`/`4월` forms. Names are matched
//! without case and without a trailing `.` or `,`. The text comes to us already decoded (UTF-8,
//! or Latin-1 for lines that are not UTF-8), so `ä`, `é`, `û` are characters here, not bytes.

/// Each month's names, lowercase; no name stands for two months (a test checks). `jui`, which a
/// French server could mean for June or July, is July, as FileZilla's example VMS line
/// `15-JUI-2002` has it.
const NAMES: [&[&str]; 12] = [
    &[
        "jan",
        "january",
        "januar",
        "jänner",
        "janv",
        "janvier",
        "ene",
        "enero",
        "gen",
        "gennaio",
        "januari",
        "janeiro",
        "tammi",
        "tammikuu",
        "sty",
        "styczeń",
        "янв",
        "январь",
    ],
    &[
        "feb",
        "february",
        "februar",
        "févr",
        "fevr",
        "fév",
        "fev",
        "février",
        "febrero",
        "febbraio",
        "februari",
        "fevereiro",
        "helmi",
        "helmikuu",
        "lut",
        "luty",
        "febr",
        "фев",
        "февраль",
    ],
    &[
        "mar",
        "march",
        "mär",
        "märz",
        "maerz",
        "mrz",
        "mars",
        "marzo",
        "mrt",
        "maart",
        "março",
        "marco",
        "maalis",
        "maaliskuu",
        "márc",
        "marc",
        "мар",
        "март",
    ],
    &[
        "apr",
        "april",
        "avr",
        "avril",
        "abr",
        "abril",
        "aprile",
        "huhti",
        "huhtikuu",
        "kwi",
        "kwiecień",
        "ápr",
        "апр",
        "апрель",
    ],
    &[
        "may", "mai", "mayo", "mag", "maggio", "mei", "maio", "maj", "touko", "toukokuu", "máj",
        "май",
    ],
    &[
        "jun", "june", "juni", "juin", "junio", "giu", "giugno", "junho", "kesä", "kesäkuu", "cze",
        "czerwiec", "jún", "июн", "июнь",
    ],
    &[
        "jul",
        "july",
        "juli",
        "juil",
        "juillet",
        "jui",
        "julio",
        "lug",
        "luglio",
        "julho",
        "heinä",
        "heinäkuu",
        "lip",
        "lipiec",
        "júl",
        "июл",
        "июль",
    ],
    &[
        "aug",
        "august",
        "août",
        "aout",
        "ago",
        "agosto",
        "augustus",
        "elo",
        "elokuu",
        "sie",
        "sierpień",
        "авг",
        "август",
    ],
    &[
        "sep",
        "sept",
        "september",
        "septembre",
        "septiembre",
        "setiembre",
        "set",
        "settembre",
        "setembro",
        "syys",
        "syyskuu",
        "wrz",
        "wrzesień",
        "szept",
        "сен",
        "сент",
        "сентябрь",
    ],
    &[
        "oct",
        "october",
        "okt",
        "oktober",
        "octobre",
        "octubre",
        "ott",
        "ottobre",
        "out",
        "outubro",
        "loka",
        "lokakuu",
        "paź",
        "paz",
        "październik",
        "окт",
        "октябрь",
    ],
    &[
        "nov",
        "november",
        "novembre",
        "noviembre",
        "novembro",
        "marras",
        "marraskuu",
        "lis",
        "listopad",
        "ноя",
        "нояб",
        "ноябрь",
    ],
    &[
        "dec",
        "december",
        "dez",
        "dezember",
        "déc",
        "décembre",
        "dic",
        "diciembre",
        "dicembre",
        "des",
        "desember",
        "dezembro",
        "joulu",
        "joulukuu",
        "gru",
        "grudzień",
        "дек",
        "декабрь",
    ],
];

/// The month (1–12) a listing's month name stands for, in any of the languages above, or a
/// CJK month (`4月`, `12월`).
pub(super) fn month_number(name: &str) -> Option<u32> {
    let trimmed = name.trim_end_matches(['.', ',']);
    if let Some(number) = trimmed
        .strip_suffix('月')
        .or_else(|| trimmed.strip_suffix('월'))
    {
        return super::time::parse_digits::<u32>(number, 1, 2).filter(|m| (1..=12).contains(m));
    }
    let lower = trimmed.to_lowercase();
    let index = NAMES
        .iter()
        .position(|names| names.contains(&lower.as_str()))?;
    u32::try_from(index + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_localized_names() {
        for (name, month) in [
            ("Jan", 1),
            ("NOV", 11),
            ("Mär", 3),
            ("MÄR", 3),
            ("Okt.", 10),
            ("Dez", 12),
            ("févr.", 2),
            ("déc.", 12),
            ("juil.", 7),
            ("août", 8),
            ("ene", 1),
            ("abr", 4),
            ("dic", 12),
            ("mag", 5),
            ("mrt", 3),
            ("out", 10),
            ("maj", 5),
            ("Juli,", 7),
            ("JUI", 7),
            ("4月", 4),
            ("12월", 12),
            ("окт", 10),
        ] {
            assert_eq!(month_number(name), Some(month), "{name:?}");
        }
        for name in ["", "foo", "13月", "0月", "Mä", ".", "janx"] {
            assert_eq!(month_number(name), None, "{name:?}");
        }
    }

    /// Latin-1 text decodes byte for byte into the same characters, so a name that came as
    /// Latin-1 bytes matches too.
    #[test]
    fn latin1_decoded_names_match() {
        let latin1 = |bytes: &[u8]| bytes.iter().map(|&b| char::from(b)).collect::<String>();
        assert_eq!(month_number(&latin1(b"M\xe4r")), Some(3));
        assert_eq!(month_number(&latin1(b"f\xe9vr.")), Some(2));
        assert_eq!(month_number(&latin1(b"d\xe9c.")), Some(12));
        assert_eq!(month_number(&latin1(b"ao\xfbt")), Some(8));
    }

    /// No name may stand for two months.
    #[test]
    fn names_are_unique() {
        let mut all: Vec<&str> = NAMES.iter().flat_map(|n| n.iter().copied()).collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
