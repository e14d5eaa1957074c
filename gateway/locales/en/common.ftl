# Words shared by every page and e-mail. Keys: kebab-case, prefixed by
# where they appear. Arguments: { $name }. See docs/languages.md.

# The language's own name, in itself (for language pickers).
language-name = English

# Dates: "1 December 2025".
date = { $day } { $month } { $year }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

# layout.html: every page.
layout-request-id = Request id: { $id }
layout-logo-alt = { $org }
# A day and a time: "3 March 2027, 14:05 UTC".
date-time = { $date }, { $time } UTC
