select *
from (select 1 as id, date '2024-01-01' as d)
where d >= '{{ var("start_date") }}'
