select
    customer_id,
    sum(amount) as revenue,
    count(*) as orders
from "shop"."analytics"."orders"
where is_returned = 0
group by customer_id
