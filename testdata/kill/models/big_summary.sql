select grp, count(*) as rows_in_group, sum(v) as total
from {{ ref('big') }}
group by grp
