-- orders mart
select o.order_id
from {{ ref('stg_order') }} as o
