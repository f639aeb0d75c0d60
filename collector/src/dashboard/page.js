(function(){
  var room=document.getElementById('room'),live=document.getElementById('live');
  var every=Number(room.getAttribute('data-refresh-ms'))||10000;
  function tick(){
    fetch('/v1/dashboard',{credentials:'same-origin',headers:{'Accept':'application/json'}})
      .then(function(r){if(r.status===401){location.reload();return null;}
        if(!r.ok){throw new Error('HTTP '+r.status);}return r.json();})
      .then(function(d){if(!d){return;}room.innerHTML=d.html;
        live.textContent='Live \u00b7 updated '+new Date().toLocaleTimeString();live.className='live';})
      .catch(function(){live.textContent='Offline \u00b7 retrying';live.className='live err';});
  }
  setInterval(tick,every);
})();
(function(){
  var form=document.getElementById('ask-form');if(!form){return;}
  var q=document.getElementById('ask-question'),asOf=document.getElementById('ask-as-of'),
      out=document.getElementById('ask-answer'),section=document.getElementById('ask');
  function el(tag,cls,text){var e=document.createElement(tag);if(cls){e.className=cls;}
    if(text!==undefined&&text!==null){e.textContent=String(text);}return e;}
  function cell(v){return v===null||v===undefined?'':String(v);}
  function csv(cols,rows){return [cols].concat(rows).map(function(r){return r.map(function(v){
    var s=cell(v);return /[",\r\n]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s;}).join(',');})
    .join('\r\n')+'\r\n';}
  function money(column,v){if(typeof v!=='number'){return cell(v);}
    if(column==='revenue'||column==='avg_basket_pesos'){return '\u20b1'+v.toLocaleString('en-PH',
      {minimumFractionDigits:2,maximumFractionDigits:2});}
    return v.toLocaleString('en-PH');}
  function chips(label,list){var d=el('div','examples',label);list.forEach(function(t){
    var b=el('button','example',t);b.type='button';b.setAttribute('data-q',t);d.appendChild(b);});
    return d;}
  function show(d,ms){
    out.textContent='';out.setAttribute('data-status',d.status);
    if(d.status==='refused'){out.appendChild(el('p','error','Refused: '+d.refused));return;}
    if(d.status==='clarify'){out.appendChild(el('p','reading',d.clarification));
      if(d.suggestions&&d.suggestions.length){out.appendChild(chips('Did you mean: ',d.suggestions));}
      return;}
    out.appendChild(el('p','reading','Read as: '+d.reading));
    (d.notes||[]).forEach(function(n){out.appendChild(el('p','meta','Note: '+n));});
    var numeric=d.columns.map(function(c,i){return d.rows.length>0&&d.rows.every(function(r){
      return r[i]===null||typeof r[i]==='number';});});
    var wrap=el('div','scroll'),t=el('table'),head=el('tr'),body=el('tbody');
    d.columns.forEach(function(c,i){head.appendChild(el('th',numeric[i]?'num':'',c.replace(/_/g,' ')));});
    var thead=el('thead');thead.appendChild(head);t.appendChild(thead);
    d.rows.forEach(function(r){var tr=el('tr');r.forEach(function(v,i){
      tr.appendChild(el('td',numeric[i]?'num':'',money(d.columns[i],v)));});
      body.appendChild(tr);});
    t.appendChild(body);wrap.appendChild(t);out.appendChild(wrap);
    var meta=el('p','meta',d.rows.length+' row'+(d.rows.length===1?'':'s')+' · from '+d.source+
      ' · '+ms+' ms'+(d.cache_hit?' · from the cache':'')+' · ');
    var link=el('a','', 'CSV');link.href=URL.createObjectURL(new Blob([csv(d.columns,d.rows)],
      {type:'text/csv'}));link.download='scout-answer.csv';meta.appendChild(link);out.appendChild(meta);
    var sql=el('details');sql.appendChild(el('summary','meta','SQL'));sql.appendChild(el('pre','',d.sql));
    out.appendChild(sql);
  }
  function ask(){
    var question=q.value.trim();if(!question){q.focus();return;}
    var body={question:question};if(asOf.value){body.as_of=asOf.value;}
    var started=Date.now();out.textContent='';out.setAttribute('data-status','asking');
    out.appendChild(el('p','meta','Asking…'));
    fetch('/v1/nl2sql',{method:'POST',credentials:'same-origin',body:JSON.stringify(body),
        headers:{'Content-Type':'application/json','Accept':'application/json'}})
      .then(function(r){if(r.status===401){location.reload();return null;}
        return r.json().then(function(d){if(!r.ok){throw new Error(d.error||('HTTP '+r.status));}
          return d;});})
      .then(function(d){if(d){show(d,Date.now()-started);}})
      .catch(function(e){out.textContent='';out.setAttribute('data-status','error');
        out.appendChild(el('p','error',String(e.message||e)));});
  }
  form.addEventListener('submit',function(e){e.preventDefault();ask();});
  section.addEventListener('click',function(e){var b=e.target.closest('button.example');
    if(b){q.value=b.getAttribute('data-q');ask();}});
})();
