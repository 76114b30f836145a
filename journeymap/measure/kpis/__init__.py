"""The journey KPIs: marketing, conversion, money, retention, help content, tickets."""
