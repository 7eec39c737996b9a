select * from "shop"."analytics"."dim_customers" order by revenue desc limit 3
