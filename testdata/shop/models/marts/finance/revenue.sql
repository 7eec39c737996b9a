select
    customer_id,
    sum(amount) as revenue,
    count(*) as orders
from {{ ref('fct_orders') }}
where is_returned = 0
group by customer_id
