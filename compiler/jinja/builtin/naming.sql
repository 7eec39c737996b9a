{#- Where models are built. The compiler calls these (the project's own
    version first) to pick each node's database, schema and alias. Override
    the behaviour by defining generate_schema_name or
    default__generate_schema_name (and likewise) in the project. -#}

{#- generate_schema_name: target.schema, or "<target.schema>_<custom>" when
    the node sets a custom schema. -#}
{% macro generate_schema_name(custom_schema_name=none, node=none) -%}
  {{ return(adapter.dispatch('generate_schema_name', 'dbt')(custom_schema_name, node)) }}
{%- endmacro %}

{% macro default__generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {{ target.schema }}
  {%- else -%}
    {{ target.schema }}_{{ custom_schema_name | trim }}
  {%- endif -%}
{%- endmacro %}


{#- generate_alias_name: the custom alias, else the node's name (with
    "_v<version>" for versioned models). -#}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {{ return(adapter.dispatch('generate_alias_name', 'dbt')(custom_alias_name, node)) }}
{%- endmacro %}

{% macro default__generate_alias_name(custom_alias_name, node) -%}
  {%- if custom_alias_name -%}
    {{ custom_alias_name | trim }}
  {%- elif node is none -%}
    {{ exceptions.raise_compiler_error("generate_alias_name: no custom alias and no node to take the name from") }}
  {%- elif node.version -%}
    {{ node.name }}_v{{ node.version | string | replace('.', '_') }}
  {%- else -%}
    {{ node.name }}
  {%- endif -%}
{%- endmacro %}


{#- generate_database_name: the custom database, else target.database. -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
  {{ return(adapter.dispatch('generate_database_name', 'dbt')(custom_database_name, node)) }}
{%- endmacro %}

{% macro default__generate_database_name(custom_database_name, node) -%}
  {%- if custom_database_name is none -%}
    {{ target.database }}
  {%- else -%}
    {{ custom_database_name | trim }}
  {%- endif -%}
{%- endmacro %}
