-- ~250k rows: the kept base rows crossed with 800 numbers. Version 2 keeps
-- more ids and scales v, so both the count and the sum change.
select b.id, b.grp, n.n, b.amount * {{ var('version') }} + n.n as v
from {{ ref('base') }} b
cross join {{ ref('numbers') }} n
where b.id % 10 < 5 + {{ var('version') }}
