// Opens the failure a matrix cell links to; the buttons open or close them all.
function openTarget(){var t=document.getElementById(location.hash.slice(1));if(t&&t.tagName==='DETAILS'){t.open=true;}}
function setAll(open){document.querySelectorAll('#failures details').forEach(function(d){d.open=open;});}
window.addEventListener('hashchange',openTarget);openTarget();
var ex=document.getElementById('expand');if(ex){ex.onclick=function(){setAll(true);};}
var co=document.getElementById('collapse');if(co){co.onclick=function(){setAll(false);};}
