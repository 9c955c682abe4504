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

/* 自定义报表's designer: the field list (#rb-fields) and the two drop zones, 行（维度） (#rb-rows) and 指标
   (#rb-measures).  A field is added by dragging it into its zone (HTML5 drag and drop) or by clicking it; a chip
   is reordered by dragging it inside its zone or with the arrow keys, and removed by dragging it out, its × or the
   Delete key.  Each chip carries the input the form posts (row1 / row2, measures), so the order in a zone is the
   order of the spec.  A drop that breaks one of the spec's rules (reportbuilder/spec.py) is refused with its
   reason beside the zone; the server checks everything again. */
(function () {
  'use strict';
  var designer = document.getElementById('rb-designer');
  if (!designer) { return; }
  var form = document.getElementById('rb-builder');
  var zones = {rows: document.getElementById('rb-rows'), measures: document.getElementById('rb-measures')};
  var NAMES = {rows: '行（维度）', measures: '指标'};
  var MAX_ROWS = 2;
  var status = document.getElementById('rb-status');
  var dragging = null;  // {node, key, label, zone (where it goes), from: 'fields' | 'rows' | 'measures'}
  var marker = document.createElement('li');
  marker.className = 'rb-marker';
  marker.setAttribute('aria-hidden', 'true');

  function chips(zone) { return Array.prototype.slice.call(zones[zone].querySelectorAll('.rb-chip')); }
  function keys(zone) { return chips(zone).map(function (c) { return c.getAttribute('data-key'); }); }
  function box(zone) { return zones[zone].closest('.rb-zone'); }
  function message(zone) { return document.getElementById('rb-' + zone + '-message'); }
  function announce(text) { status.textContent = text; }

  function say(zone, text) {  // a rule broken: its reason beside the zone, outlined in red until the next change
    message(zone).textContent = text;
    box(zone).classList.add('rb-refused');
  }
  function clear() {
    Object.keys(zones).forEach(function (zone) {
      message(zone).textContent = '';
      box(zone).classList.remove('rb-refused');
    });
  }

  // The reason a field may not go into `zone` (null: it may).  `moving`: a chip already in that zone.
  function refusal(zone, field, moving) {
    if (field.zone !== zone) {
      return zone === 'rows' ? '“' + field.label + '”是指标，请拖到“指标”'
                             : '“' + field.label + '”是维度，请拖到“行（维度）”';
    }
    if (moving) { return null; }
    var present = keys(zone);
    if (present.indexOf(field.key) >= 0) {
      return (zone === 'rows' ? '行维度' : '指标') + '不能重复：“' + field.label + '”已在' + NAMES[zone] + '中';
    }
    if (zone === 'rows') {
      if (present.length >= MAX_ROWS) { return '行维度最多选两个：先移除一个，再添加“' + field.label + '”'; }
      var time = chips('rows').filter(function (c) { return c.hasAttribute('data-time'); })[0];
      if (field.time && time) {
        return '只能选择一个时间维度（月份或季度）：已有“' + time.getAttribute('data-label') + '”';
      }
    }
    return null;
  }

  function removal(zone, chip) {  // the reason a chip may not leave its zone: the spec needs one of each
    if (chips(zone).length > 1) { return null; }
    var label = chip.getAttribute('data-label');
    return zone === 'rows' ? '至少需要一个行维度：先添加另一个维度，再移除“' + label + '”'
                           : '至少需要一个指标：先添加另一个指标，再移除“' + label + '”';
  }

  function makeChip(field) {
    var chip = document.createElement('li');
    chip.className = 'rb-chip ' + (field.zone === 'rows' ? 'rb-dimension' : 'rb-measure');
    chip.draggable = true;
    chip.tabIndex = 0;
    chip.setAttribute('data-key', field.key);
    chip.setAttribute('data-label', field.label);
    chip.setAttribute('aria-describedby', 'rb-chip-help');
    if (field.time) { chip.setAttribute('data-time', '1'); }
    var label = document.createElement('span');
    label.className = 'rb-chip-label';
    label.textContent = field.label;
    var input = document.createElement('input');
    input.type = 'hidden';
    input.value = field.key;
    var remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'rb-remove';
    remove.title = '移除';
    remove.setAttribute('aria-label', '移除“' + field.label + '”');
    remove.textContent = '×';
    chip.appendChild(label);
    chip.appendChild(input);
    chip.appendChild(remove);
    return chip;
  }

  // After every change: the inputs' names follow the zones' order (row1 = the first dimension), and the fields
  // already chosen are dimmed in the list.
  function sync() {
    chips('rows').forEach(function (chip, i) { chip.querySelector('input').name = 'row' + (i + 1); });
    chips('measures').forEach(function (chip) { chip.querySelector('input').name = 'measures'; });
    var chosen = keys('rows').concat(keys('measures'));
    designer.querySelectorAll('.rb-field').forEach(function (button) {
      var used = chosen.indexOf(button.getAttribute('data-key')) >= 0;
      button.classList.toggle('rb-used', used);
      button.title = used ? '已在' + NAMES[button.getAttribute('data-zone')] + '中' : '';
    });
    if (generated !== null) { markStale(); }
  }

  function fieldOf(node) {
    var zone = node.getAttribute('data-zone') || (node.classList.contains('rb-dimension') ? 'rows' : 'measures');
    return {key: node.getAttribute('data-key'), label: node.getAttribute('data-label'), zone: zone,
            time: node.hasAttribute('data-time')};
  }

  function place(zone, field, chip, before) {  // puts `chip` (or a new one) into `zone` before `before`
    chip = chip || makeChip(field);
    zones[zone].insertBefore(chip, before || null);
    clear();
    sync();
    return chip;
  }

  function remove(zone, chip) {
    var refused = removal(zone, chip);
    if (refused) { say(zone, refused); return false; }
    chip.remove();
    clear();
    sync();
    announce('已从' + NAMES[zone] + '移除“' + chip.getAttribute('data-label') + '”');
    return true;
  }

  function add(field) {  // a click on a field: to the end of its zone
    var refused = refusal(field.zone, field, false);
    if (refused) { say(field.zone, refused); return; }
    place(field.zone, field, null, null);
    announce('已添加“' + field.label + '”到' + NAMES[field.zone]);
  }

  // The chip a drop at (x, y) goes before: the first one the point is above, or left of the middle of.
  function chipAfter(zone, x, y) {
    var others = chips(zone).filter(function (c) { return !dragging || c !== dragging.node; });
    for (var i = 0; i < others.length; i += 1) {
      var r = others[i].getBoundingClientRect();
      if (y < r.top || (y <= r.bottom && x < r.left + r.width / 2)) { return others[i]; }
    }
    return null;
  }

  function zoneOf(node) {
    var box = node && node.closest && node.closest('.rb-zone');
    return box ? box.getAttribute('data-zone') : null;
  }

  function endDrag() {
    if (dragging && dragging.node) { dragging.node.classList.remove('rb-dragging'); }
    marker.remove();
    Object.keys(zones).forEach(function (zone) { box(zone).classList.remove('rb-over', 'rb-over-refused'); });
    dragging = null;
  }

  designer.addEventListener('dragstart', function (event) {
    var node = event.target.closest && event.target.closest('.rb-field, .rb-chip');
    if (!node) { return; }
    var field = fieldOf(node);
    var chip = node.classList.contains('rb-chip');
    dragging = {node: chip ? node : null, key: field.key, label: field.label, zone: field.zone, time: field.time,
                from: chip ? zoneOf(node) : 'fields'};
    event.dataTransfer.effectAllowed = chip ? 'move' : 'copy';
    event.dataTransfer.setData('text/plain', field.label);
    if (chip) { node.classList.add('rb-dragging'); }
  });
  designer.addEventListener('dragend', endDrag);

  // A chip may be dropped anywhere on the page: outside its zone, that removes it.
  document.addEventListener('dragover', function (event) {
    if (!dragging) { return; }
    var zone = zoneOf(event.target);
    if (zone) {
      // Dropping is allowed even where the field cannot go, so the drop can say why; the zone shows it beforehand
      // (no insertion mark, a red outline).
      var refused = refusal(zone, dragging, dragging.from === zone);
      event.preventDefault();
      event.dataTransfer.dropEffect = dragging.from === 'fields' ? 'copy' : 'move';
      Object.keys(zones).forEach(function (z) {
        box(z).classList.toggle('rb-over', z === zone && !refused);
        box(z).classList.toggle('rb-over-refused', z === zone && !!refused);
      });
      if (refused) { marker.remove(); } else { zones[zone].insertBefore(marker, chipAfter(zone, event.clientX, event.clientY)); }
    } else {
      marker.remove();
      Object.keys(zones).forEach(function (z) { box(z).classList.remove('rb-over', 'rb-over-refused'); });
      if (dragging.from !== 'fields') { event.preventDefault(); event.dataTransfer.dropEffect = 'move'; }
    }
  });

  document.addEventListener('drop', function (event) {
    if (!dragging) { return; }
    event.preventDefault();
    var zone = zoneOf(event.target);
    var moving = dragging.from === zone;
    if (zone) {
      var before = chipAfter(zone, event.clientX, event.clientY);
      var refused = refusal(zone, dragging, moving);
      if (refused) {  // a chip dragged into the other zone is refused too: the zones hold different kinds
        say(zone, refused);
      } else {
        place(zone, dragging, dragging.node, before);
        announce((moving ? '已调整“' : '已添加“') + dragging.label + '”' + (moving ? '的顺序' : '到' + NAMES[zone]));
      }
    } else if (dragging.from !== 'fields') {
      remove(dragging.from, dragging.node);
    }
    endDrag();
  });

  designer.addEventListener('click', function (event) {
    var field = event.target.closest('.rb-field');
    if (field) { add(fieldOf(field)); return; }
    var button = event.target.closest('.rb-remove');
    if (button) {
      var chip = button.closest('.rb-chip');
      var zone = zoneOf(chip);
      var next = chip.nextElementSibling || chip.previousElementSibling;
      if (remove(zone, chip) && next && next.classList.contains('rb-chip')) { next.focus(); }
    }
  });

  // Keyboard: arrows move the focused chip within its zone, Delete or Backspace removes it.
  designer.addEventListener('keydown', function (event) {
    var chip = event.target;
    if (!chip.classList || !chip.classList.contains('rb-chip')) { return; }
    var zone = zoneOf(chip);
    if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') {
      var previous = chip.previousElementSibling;
      if (previous) { place(zone, null, chip, previous); chip.focus(); announce('已前移“' + chip.getAttribute('data-label') + '”'); }
      event.preventDefault();
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowDown') {
      var next = chip.nextElementSibling;
      if (next) { place(zone, null, chip, next.nextElementSibling); chip.focus(); announce('已后移“' + chip.getAttribute('data-label') + '”'); }
      event.preventDefault();
    } else if (event.key === 'Delete' || event.key === 'Backspace') {
      var neighbour = chip.nextElementSibling || chip.previousElementSibling;
      if (remove(zone, chip) && neighbour) { neighbour.focus(); }
      event.preventDefault();
    }
  });

  // The result on the page and its 保存报表 / 导出 forms are of the settings it was generated with (the forms carry
  // them as hidden inputs).  Once the zones, period, filters, chart or row limit differ from those, saving or
  // exporting would hand on the old result as if it were the new settings': until 生成报表 is pressed again the
  // buttons are disabled and #rb-stale says why.  Putting the settings back as they were enables them again.
  var stale = document.getElementById('rb-stale');
  var generated = null;  // the settings of the result shown (null: no result on the page)
  function settings() {  // the builder form as it would be sent, in order (the zones' order is the spec's)
    var pairs = [];
    new FormData(form).forEach(function (value, name) { if (value !== '') { pairs.push(name + '=' + value); } });
    return pairs.join('&');
  }
  function markStale() {
    var changed = settings() !== generated;
    stale.hidden = !changed;
    document.querySelectorAll('#rb-export button, #rb-save button, #rb-save input').forEach(function (control) {
      control.disabled = changed;
    });
    var subscribe = document.getElementById('rb-subscribe');
    if (subscribe) {
      subscribe.classList.toggle('disabled', changed);
      subscribe.setAttribute('aria-disabled', changed ? 'true' : 'false');
      subscribe.tabIndex = changed ? -1 : 0;
    }
  }
  if (stale) {
    form.addEventListener('input', markStale);
    form.addEventListener('change', markStale);
    document.querySelectorAll('#rb-export, #rb-save').forEach(function (handed) {
      handed.addEventListener('submit', function (event) {  // Enter in a field of a disabled form
        if (!stale.hidden) { event.preventDefault(); }
      });
    });
    var subscribeLink = document.getElementById('rb-subscribe');
    if (subscribeLink) {
      subscribeLink.addEventListener('click', function (event) { if (!stale.hidden) { event.preventDefault(); } });
    }
  }

  // An empty zone is said before the form is sent (the server would refuse it with the same words).
  form.addEventListener('submit', function (event) {
    var missing = false;
    if (!chips('rows').length) { say('rows', '请至少选择一个行维度'); missing = true; }
    if (!chips('measures').length) { say('measures', '请至少选择一个指标'); missing = true; }
    if (missing) { event.preventDefault(); designer.scrollIntoView({block: 'nearest'}); }
  });

  sync();
  if (stale) { generated = settings(); }
})();

/* 报表列表: 删除 asks first. */
document.querySelectorAll('#rb-saved button[data-confirm]').forEach(function (button) {
  button.addEventListener('click', function (event) {
    if (!window.confirm(button.getAttribute('data-confirm'))) { event.preventDefault(); }
  });
});
