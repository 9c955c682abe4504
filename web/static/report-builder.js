/* 自定义报表: draws the result's chart with the vendored ECharts from the JSON the page carries (data-chart):
   {kind: bar|line|pie|funnel, categories, series: [{name, data}], format: money|count|percent, measure}. */
(function () {
  var node = document.getElementById('rb-chart');
  if (!node || typeof echarts === 'undefined') { return; }
  var data = JSON.parse(node.getAttribute('data-chart'));
  function shown(value) {
    if (value === null || value === undefined) { return '—'; }
    if (data.format === 'money') {
      var text = Math.abs(value).toLocaleString('zh-CN', {minimumFractionDigits: 2, maximumFractionDigits: 2});
      return (value < 0 ? '-¥' : '¥') + text;
    }
    if (data.format === 'percent') { return (value * 100).toFixed(1) + '%'; }
    return Number(value).toLocaleString('zh-CN');
  }
  function axisValue(value) {  // axis ticks: money without cents
    if (data.format === 'money') { return '¥' + Number(value).toLocaleString('zh-CN', {maximumFractionDigits: 0}); }
    return shown(value);
  }
  var chart = echarts.init(node);
  var option;
  if (data.kind === 'pie' || data.kind === 'funnel') {
    var items = data.categories.map(function (name, i) { return {name: name, value: data.series[0].data[i] || 0}; });
    var top = Math.max.apply(null, items.map(function (d) { return d.value; }).concat([1]));
    option = {
      tooltip: {trigger: 'item', formatter: function (p) { return p.name + '：' + shown(p.value); }},
      legend: {type: 'scroll', bottom: 0},
      series: [data.kind === 'pie'
        ? {type: 'pie', radius: ['35%', '65%'], data: items,
           label: {formatter: function (p) { return p.name + ' ' + p.percent.toFixed(1) + '%'; }}}
        : {type: 'funnel', sort: 'none', left: '15%', width: '70%', top: 10, bottom: 40, min: 0, max: top, gap: 4,
           data: items, label: {show: true, position: 'inside',
                                formatter: function (p) { return p.name + ' ' + shown(p.value); }}}]
    };
  } else {
    // Long or many labels (a customer list) read better as horizontal bars, one line each, top first.
    var longest = Math.max.apply(null, data.categories.map(function (c) { return String(c).length; }).concat([0]));
    var horizontal = data.kind === 'bar' && (data.categories.length > 12 || longest > 8);
    var categoryAxis = {type: 'category', data: data.categories,
                        axisLabel: horizontal ? {width: 260, overflow: 'truncate'}
                                              : {interval: 'auto', rotate: data.categories.length > 8 ? 30 : 0}};
    var valueAxis = {type: 'value', axisLabel: {formatter: axisValue}};
    if (horizontal) {
      categoryAxis.inverse = true;
      node.style.height = Math.max(340, 22 * data.categories.length + 60) + 'px';
      chart.resize();
    }
    option = {
      tooltip: {trigger: 'axis', valueFormatter: shown},
      legend: {show: data.series.length > 1, type: 'scroll', bottom: 0},
      grid: {left: 16, right: 48, top: 16, bottom: data.series.length > 1 ? 48 : 24, containLabel: true},
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: data.series.map(function (s) {
        return {type: data.kind === 'line' ? 'line' : 'bar', name: s.name, data: s.data, smooth: false};
      })
    };
  }
  chart.setOption(option);
  node.setAttribute('data-rendered', '1');
  window.addEventListener('resize', function () { chart.resize(); });
})();
