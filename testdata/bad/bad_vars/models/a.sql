select {{ var("n", 1) }} as n
