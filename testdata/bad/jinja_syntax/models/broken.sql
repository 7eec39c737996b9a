select
  1 as id,
  2 as other
{% if target.name == "dev" %}
where 1 = 1
{% endfor %}
